namespace Ingest.Engine.Sources;

/// <summary>The first <c>length</c> bytes of a stream: a range of a file ends where the next one starts, whatever follows.</summary>
internal sealed class BoundedStream(Stream inner, long length) : ReadOnlyStream
{
    private long _left = length;

    public override int Read(Span<byte> buffer) => Counted(inner.Read(buffer[..Room(buffer.Length)]));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Counted(await inner.ReadAsync(buffer[..Room(buffer.Length)], cancellationToken));

    private int Room(int asked) => (int)Math.Min(asked, _left);

    private int Counted(int n)
    {
        _left -= n;
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await inner.DisposeAsync();
        await base.DisposeAsync();
    }
}
