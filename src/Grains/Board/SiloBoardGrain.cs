// One grain per silo, on that silo, through which the live web view reads the silo's board of batches.
namespace Adjoint.Grains;

/// <summary>Reads its own silo's <see cref="BatchBoard"/> (key: that silo's address).</summary>
[SiloPlacement]
public sealed class SiloBoardGrain(BatchBoard board, ILocalSiloDetails silo) : Grain, ISiloBoardGrain
{
    /// <inheritdoc/>
    public Task<SiloBoard> Read() => Task.FromResult(board.Read(silo.SiloAddress.ToString()));
}
