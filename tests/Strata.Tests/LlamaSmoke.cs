using LLama.Native;
namespace Strata.Tests;
public class LlamaSmoke
{
    [Fact]
    public void NativeLoads()
    {
        NativeApi.llama_empty_call();
    }
}
