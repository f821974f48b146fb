// DurableState against a storage whose calls the test holds and releases, so that a read and a write
// can be made to overlap as an [AlwaysInterleave] call and a deploy do in a grain.
using Adjoint.Grains.Hosting;
using Orleans.Runtime;
using Orleans.Storage;

namespace Adjoint.Grains.Tests;

public sealed class DurableStateTests
{
    public sealed class Box
    {
        public int Value { get; set; }
    }

    // One grain's record; each call takes the stored value when it starts (a read returns what storage
    // held then) and finishes when the test opens its gate.
    private sealed class HeldStorage : IGrainStorage
    {
        public int Stored;
        public bool FailWrites;
        public TaskCompletionSource? Gate;

        private async Task Wait()
        {
            if (Gate is { } gate) await gate.Task;
        }

        public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            var value = Stored;
            await Wait();
            ((Box)(object)grainState.State!).Value = value;
            grainState.RecordExists = true;
        }

        public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            var value = ((Box)(object)grainState.State!).Value;
            await Wait();
            if (FailWrites) throw new TimeoutException("storage did not answer");
            Stored = value;
        }

        public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            Stored = 0;
            return Task.CompletedTask;
        }
    }

    private static DurableState<Box> StateOver(HeldStorage storage) => new(storage, "box", GrainId.Create("test", "box"));

    [Fact]
    public async Task A_refresh_during_a_write_does_not_put_the_old_state_back()
    {
        var storage = new HeldStorage();
        var state = StateOver(storage);
        await state.Write(new Box { Value = 1 });
        storage.Gate = new();
        var write = state.Write(new Box { Value = 2 });
        // What an interleaving call's filter does while the write is on its way.
        var refresh = state.Refresh();
        storage.Gate.SetResult();
        await Task.WhenAll(write, refresh);
        Assert.Equal(2, state.State.Value);
        Assert.False(state.Stale);
    }

    [Fact]
    public async Task A_read_overtaken_by_a_write_keeps_the_written_state()
    {
        var storage = new HeldStorage { Stored = 1 };
        var state = StateOver(storage);
        var readGate = storage.Gate = new();
        var read = state.Read();
        storage.Gate = null;
        await state.Write(new Box { Value = 2 });
        readGate.SetResult();
        await read;
        Assert.Equal(2, state.State.Value);
        Assert.Equal(2, storage.Stored);
    }

    [Fact]
    public async Task A_failed_write_leaves_the_state_stale_until_read_again()
    {
        var storage = new HeldStorage();
        var state = StateOver(storage);
        await state.Write(new Box { Value = 1 });
        storage.FailWrites = true;
        await Assert.ThrowsAsync<TimeoutException>(() => state.Write(new Box { Value = 2 }));
        Assert.True(state.Stale);
        Assert.Equal(1, state.State.Value);
        // The write may have landed after all: storage is the truth.
        storage.Stored = 2;
        await state.Refresh();
        Assert.False(state.Stale);
        Assert.Equal(2, state.State.Value);
    }
}
