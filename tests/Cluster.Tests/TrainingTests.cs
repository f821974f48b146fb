using System.Text.Json;

namespace Adjoint.Cluster.Tests;

/// <summary>
/// <c>adjoint train</c> on the three-process cluster: the digits MLP reaches the accuracy the README
/// promises, with the same trained parameters, bit for bit, as the local engine.
/// </summary>
[Collection(LocalClusterCollection.Name)]
public sealed class TrainingTests(SharedCluster cluster)
{
    private static async Task<string> Train(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await Adjoint.Cli.Cli.RunAsync(["train", .. args, "--json"], stdout, stderr);
        Assert.True(code == 0, $"adjoint train exited {code}: {stderr}{stdout}");
        return stdout.ToString();
    }

    [Fact]
    public async Task The_digits_mlp_trains_on_the_cluster_above_95_percent_to_the_local_engines_bits()
    {
        // A fresh model id (the file name) so that no earlier run's parameters are picked up.
        var id = $"digits-mlp-{Guid.NewGuid():N}";
        var examples = Path.Combine(LocalCluster.Root, "examples");
        var model = Path.Combine(cluster.RunFolder, $"{id}.json");
        File.Copy(Path.Combine(examples, "digits-mlp.json"), model);
        File.Copy(Path.Combine(examples, "digits-mlp.npz"), Path.Combine(cluster.RunFolder, "digits-mlp.npz"), overwrite: true);
        string[] run = ["--data", Path.Combine(examples, "data", "digits-train.csv"), "--validation", Path.Combine(examples, "data", "digits-test.csv"),
            "--epochs", "15", "--lr", "0.01", "--shuffle", "--batch", "64"];
        var onCluster = await Train([model, .. run, "--cluster", cluster.Redis, "--save", Path.Combine(cluster.RunFolder, $"{id}-cluster.json")]);
        await Train([model, .. run, "--local", "--save", Path.Combine(cluster.RunFolder, $"{id}-local.json")]);

        using var doc = JsonDocument.Parse(onCluster);
        Assert.Equal("Cluster", doc.RootElement.GetProperty("backend").GetString());
        var accuracy = doc.RootElement.GetProperty("epochs")[14].GetProperty("accuracy").GetDouble();
        Assert.True(accuracy >= 0.95, $"test accuracy {accuracy} after 15 epochs on the cluster");
        var trainedOnCluster = GraphFile.load(Path.Combine(cluster.RunFolder, $"{id}-cluster.json"));
        var trainedLocally = GraphFile.load(Path.Combine(cluster.RunFolder, $"{id}-local.json"));
        foreach (var p in new[] { "W1", "b1", "W2", "b2" })
            Assert.True(Tensor.BitwiseEqual(trainedLocally.Node(p).Value.Value, trainedOnCluster.Node(p).Value.Value), $"parameter {p} differs");
    }
}
