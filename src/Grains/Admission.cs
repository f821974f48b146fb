// The cap on one client's evaluations in flight: batches hold room for their window, first come first served.
namespace Adjoint.Grains;

/// <summary>
/// Room for at most <c>cap</c> evaluations in flight, shared by the batches of one coordinator. A batch
/// holds room for min(window, evaluations not yet complete) from its start to its end, so the batches'
/// evaluations in flight never add up to more than the cap; a batch gives room back as its tail
/// shrinks below its window. A batch that does not fit waits; waiting batches are let in strictly in
/// arrival order (a large one at the head is not overtaken, so none starves), and at most
/// <c>maxWaiting</c> wait. Single-threaded: used only from the coordinator's turns.
/// </summary>
internal sealed class Admission(int cap, int maxWaiting)
{
    /// <summary>One batch's claim: the room it holds, or waits for.</summary>
    public sealed class Ticket(int room)
    {
        internal int Room = room;
        internal LinkedListNode<Ticket>? Queued;
        internal readonly TaskCompletionSource Admitted = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Completes when the room is held.</summary>
        public Task Ready => Admitted.Task;
    }

    private readonly LinkedList<Ticket> _waiting = new();

    /// <summary>The evaluations the running batches hold room for.</summary>
    public int Held { get; private set; }

    /// <summary>Batches waiting for room.</summary>
    public int Waiting => _waiting.Count;

    /// <summary>The cap.</summary>
    public int Cap => cap;

    /// <summary>Asks room for <paramref name="room"/> (at most the cap) evaluations.</summary>
    /// <exception cref="LimitExceededException">The most batches that may wait already do.</exception>
    public Ticket Enter(int room)
    {
        var ticket = new Ticket(room);
        if (_waiting.Count == 0 && Held + room <= cap)
        {
            Held += room;
            ticket.Admitted.SetResult();
            return ticket;
        }
        if (_waiting.Count >= maxWaiting)
            throw new LimitExceededException("MaxQueuedBatchesPerClient", maxWaiting,
                $"{_waiting.Count} batches already wait for room under the cap of {cap} evaluations in flight per client (MaxEvaluationsInFlightPerClient), the most that may wait (MaxQueuedBatchesPerClient = {maxWaiting}); submit this batch when one has finished");
        ticket.Queued = _waiting.AddLast(ticket);
        return ticket;
    }

    /// <summary>Keeps room for only <paramref name="room"/> evaluations (a batch's shrinking tail).</summary>
    public void Shrink(Ticket ticket, int room)
    {
        if (ticket.Queued is not null || room >= ticket.Room) return;
        Held -= ticket.Room - room;
        ticket.Room = room;
        Admit();
    }

    /// <summary>Gives back all of a ticket's room, or takes it out of the queue.</summary>
    public void Leave(Ticket ticket)
    {
        if (ticket.Queued is { } node)
        {
            _waiting.Remove(node);
            ticket.Queued = null;
        }
        else
        {
            Held -= ticket.Room;
        }
        ticket.Room = 0;
        Admit();
    }

    // Lets waiting batches in, in order, while the one at the head fits.
    private void Admit()
    {
        while (_waiting.First is { } first && Held + first.Value.Room <= cap)
        {
            _waiting.RemoveFirst();
            var ticket = first.Value;
            ticket.Queued = null;
            Held += ticket.Room;
            ticket.Admitted.SetResult();
        }
    }
}
