using System.Net.Http.Json;
using System.Text.Json;
using Adjoint.Client;
using Microsoft.Playwright;

namespace Adjoint.Cluster.Tests;

/// <summary>
/// The live web view in a real browser: a cluster of two silo processes, the first serving its
/// dashboard, a graph deployed in two partitions and batches running through it; headless Chromium (the
/// system's, Debian's package) must show the graph's nodes in the SVG, coloured by both silos, the running
/// batch's progress bar moving, and the server-sent samples arriving. A screenshot is kept.
/// </summary>
[Collection(LocalClusterCollection.Name)]
public sealed class DashboardBrowserTests
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task ThePageShowsTheGraphTheRunningBatchAndLiveUpdates()
    {
        var ct = TestContext.Current.CancellationToken;
        // Not a skip: CI installs chromium (.ci/run), so its absence is a broken machine, not an option.
        Assert.True(File.Exists(Chromium), $"the browser test needs Chromium at {Chromium}: install Debian's package (apt-get install chromium), as .ci/run does");
        var cluster = new LocalCluster(silos: 2);
        var dashboard = LocalCluster.PortBlock();
        cluster.Environment["ADJOINT_DASHBOARD_PORT"] = dashboard.ToString();
        await cluster.InitializeAsync();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Task? running = null;
        try
        {
            Assert.Contains($"Adjoint dashboard listening on http://127.0.0.1:{dashboard}/", File.ReadAllText(Path.Combine(cluster.RunFolder, "logs", "silo0.log")));
            await using var client = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Cluster, Redis = cluster.Redis }, ct);
            var graph = Graphs.RandomDag(24, seed: 20);
            var net = await client.DeployAsync("watched", graph, ct);
            // Batches one after another until the test has seen what it needs: each long enough (seconds)
            // for the page to show it running.
            var sets = Enumerable.Range(0, 4000).Select(i => (IReadOnlyDictionary<string, Tensor>?)Graphs.RandomInputs(graph, i)).ToList();
            running = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                    await foreach (var _ in net.EvaluateBatchAsync(sets, new BatchOptions { Window = 4 }, cancellationToken: stop.Token)) { }
            }, stop.Token);

            // The JSON the page draws from: every node, each on the silo its partition is placed on.
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{dashboard}/") };
            var view = await http.GetFromJsonAsync<JsonElement>("api/graphs/watched", ct);
            Assert.Equal(graph.Nodes.Count, view.GetProperty("nodes").GetArrayLength());
            Assert.Equal(2, view.GetProperty("silos").GetArrayLength());

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium, Headless = true });
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
            page.SetDefaultTimeout(30_000);
            await page.GotoAsync($"http://127.0.0.1:{dashboard}/");

            // The graph: one SVG group per node, and its nodes on both silos (two colours).
            var nodes = page.Locator("div.graph[data-graph='watched'] svg.dag g.node");
            await page.WaitForFunctionAsync($"() => document.querySelectorAll(\"div.graph[data-graph='watched'] svg.dag g.node\").length === {graph.Nodes.Count}");
            var silosOfNodes = await nodes.EvaluateAllAsync<string[]>("ns => [...new Set(ns.map(n => n.dataset.silo))]");
            Assert.Equal(2, silosOfNodes.Length);
            var fills = await nodes.EvaluateAllAsync<string[]>("ns => [...new Set(ns.map(n => n.querySelector('rect').getAttribute('fill')))]");
            Assert.True(fills.Length >= 2, $"nodes of two silos are drawn in one colour: {string.Join(", ", fills)}");
            Assert.Equal(graph.Nodes.Sum(n => n.Ancestors.Length), await page.Locator("div.graph[data-graph='watched'] svg.dag path.edge").CountAsync());

            // The running batch: a progress bar that moves between samples, which arrive by server-sent events.
            var bar = page.Locator("div.batch[data-graph='watched'] [role=progressbar]").First;
            await bar.WaitForAsync();
            var samples = int.Parse(await page.Locator("#samples").GetAttributeAsync("data-count") ?? "0");
            var before = int.Parse(await bar.GetAttributeAsync("aria-valuenow") ?? "0");
            await page.WaitForFunctionAsync($"() => +document.getElementById('samples').dataset.count >= {samples + 2}");
            await page.WaitForFunctionAsync(
                $"() => [...document.querySelectorAll(\"div.batch[data-graph='watched'] [role=progressbar]\")].some(b => +b.getAttribute('aria-valuenow') !== {before})");
            Assert.Equal("live", await page.Locator("#connection").GetAttributeAsync("data-state"));
            Assert.Equal(2, await page.Locator("#silos tbody tr[data-status='Active']").CountAsync());
            await page.WaitForFunctionAsync("() => +document.getElementById('rate-now').textContent > 0");

            var screenshot = Path.Combine(AppContext.BaseDirectory, "screenshots", "dashboard.png");
            Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
            TestContext.Current.TestOutputHelper?.WriteLine($"screenshot: {screenshot}");
            Console.Error.WriteLine($"dashboard screenshot: {screenshot}");
        }
        finally
        {
            await stop.CancelAsync();
            if (running is not null) await Task.WhenAny(running, Task.Delay(TimeSpan.FromSeconds(10), CancellationToken.None));
            await cluster.DisposeAsync();
        }
    }
}
