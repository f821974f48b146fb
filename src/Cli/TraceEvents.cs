// A timed batch as Chrome trace events (the JSON chrome://tracing and Perfetto open): a process per
// silo, a thread per node, a complete event ("X") per node step.
using System.Text.Json.Nodes;
using Adjoint.Grains;

namespace Adjoint.Cli;

/// <summary>Writes node steps as the Trace Event Format's JSON object form, <c>{"traceEvents": [...]}</c>.</summary>
internal static class TraceEvents
{
    /// <summary>
    /// The events of every evaluation's steps: ts and dur in microseconds from the earliest step, pid the
    /// silo (named by a process_name event), tid the node's plan position (named by a thread_name event).
    /// </summary>
    public static JsonObject Of(Plan plan, IReadOnlyList<IReadOnlyList<StepTiming>> evaluations)
    {
        var all = evaluations.SelectMany((steps, e) => steps.Select(s => (Evaluation: e, Step: s))).ToList();
        var origin = all.Count == 0 ? 0 : all.Min(x => x.Step.StartTicks);
        var silos = all.Select(x => x.Step.Silo).Distinct().Order(StringComparer.Ordinal).ToList();
        var events = new JsonArray();
        for (var pid = 0; pid < silos.Count; pid++)
            events.Add(Metadata("process_name", pid, 0, $"silo {silos[pid]}"));
        foreach (var (silo, node) in all.Select(x => (x.Step.Silo, x.Step.Node)).Distinct())
            events.Add(Metadata("thread_name", silos.IndexOf(silo), plan.IndexOf(node), node));
        foreach (var (evaluation, s) in all)
        {
            var pass = s.Backward ? "backward" : "forward";
            events.Add(new JsonObject
            {
                ["name"] = $"{pass} {s.Node}",
                ["cat"] = pass,
                ["ph"] = "X",
                ["ts"] = (s.StartTicks - origin) / 10.0,
                ["dur"] = s.DurationTicks / 10.0,
                ["pid"] = silos.IndexOf(s.Silo),
                ["tid"] = plan.IndexOf(s.Node),
                ["args"] = new JsonObject
                {
                    ["node"] = s.Node, ["op"] = plan.Op(plan.IndexOf(s.Node)).Name, ["pass"] = pass, ["silo"] = s.Silo,
                    ["evaluation"] = evaluation, ["bytesIn"] = s.BytesIn, ["bytesOut"] = s.BytesOut,
                },
            });
        }
        return new JsonObject { ["traceEvents"] = events, ["displayTimeUnit"] = "ms" };
    }

    private static JsonObject Metadata(string kind, int pid, int tid, string name) => new()
    {
        ["name"] = kind, ["ph"] = "M", ["pid"] = pid, ["tid"] = tid, ["args"] = new JsonObject { ["name"] = name },
    };
}
