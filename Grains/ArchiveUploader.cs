using System.Text;
using Ingest.Catalog;
using Ingest.Engine;
using Ingest.Engine.Archive;
using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingest.Grains;

/// <summary>
/// Archives the raw bytes of the files imports loaded, when their spec has an <c>archive</c>: every
/// <see cref="IngestSiloOptions.ArchiveInterval"/> each silo looks for loaded files that have no
/// outcome and that no silo holds, and takes them one by one. A file is claimed (renewed while the
/// silo works on it, so that a silo that dies leaves it to the others after
/// <see cref="IngestSiloOptions.ArchiveLease"/>); its content is copied aside and hashed, and its key
/// registered as pending before anything is uploaded, so that a crash leaves a row to finish and
/// never a second object. An object already at the key is <c>pre_existing</c> when it holds the same
/// bytes and an error otherwise, never overwritten. Archiving never undoes a load: its failures are
/// recorded, counted and shown.
/// </summary>
public sealed class ArchiveUploader(ArchiveRegistry registry, SourceRegistry sources, Amazon.S3.IAmazonS3 s3, IOptions<IngestSiloOptions> options, ILogger<ArchiveUploader> logger)
    : SiloLoop
{
    private const int Batch = 20;

    private readonly ObjectArchive _archive = new(s3);

    private TimeSpan Lease => options.Value.ArchiveLease;

    // Stopping, the file in hand is given back at once (ReleaseAsync), for another silo to take.
    protected override async Task RunAsync(CancellationToken cancellationToken)
    {
        // Copies a silo killed mid-upload left behind.
        HashedFile.DeleteAbandoned(TimeSpan.FromDays(1));
        while (!cancellationToken.IsCancellationRequested)
        {
            var full = false;
            try
            {
                var found = await registry.WorkAsync(Lease, Batch, cancellationToken);
                foreach (var work in found) await ArchiveAsync(work, cancellationToken);
                await registry.MarkArchivedAsync(cancellationToken);
                full = found.Count == Batch;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                logger.LogWarning("archive: {Error}; trying again shortly", ErrorClassifier.Describe(e));
            }
            if (full) continue; // more may be waiting
            try { await Task.Delay(options.Value.ArchiveInterval, cancellationToken); }
            catch (OperationCanceledException) { return; }
        }
    }

    private async Task ArchiveAsync(ArchiveWork work, CancellationToken stopping)
    {
        var claim = Guid.NewGuid();
        if (!await registry.ClaimAsync(work, claim, Lease, stopping)) return;
        using var held = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var renewing = RenewAsync(work, claim, held);
        try
        {
            // Null: the same bytes are being archived at the key under another claim; the file's claim lapses, and it is tried again then.
            if (await ArchiveClaimedAsync(work, claim, held.Token) is not { } outcome) return;
            if (!await registry.EndAsync(work, claim, outcome, CancellationToken.None)) return;
            if (outcome.Status == ArchiveStatus.Error)
                logger.LogWarning("archive: import {ImportId} unit {UnitNo}: {Error}", work.ImportId, work.UnitNo, outcome.Error);
            else
                logger.LogInformation("archive: import {ImportId} unit {UnitNo}: {File} {Status} at s3://{Bucket}/{Key}",
                    work.ImportId, work.UnitNo, work.Unit.Key, outcome.Status, outcome.Bucket, outcome.Key);
        }
        catch (OperationCanceledException) when (held.IsCancellationRequested && stopping.IsCancellationRequested)
        {
            try { await registry.ReleaseAsync(claim, CancellationToken.None); }
            catch (Exception e) { logger.LogWarning("archive: import {ImportId} unit {UnitNo}: not given back ({Error}); another silo takes it once its claim lapses", work.ImportId, work.UnitNo, ErrorClassifier.Describe(e)); }
        }
        catch (OperationCanceledException) when (held.IsCancellationRequested)
        {
            // The claim was lost (this silo stalled longer than the lease): another silo has the file.
        }
        finally
        {
            await held.CancelAsync();
            await renewing;
        }
    }

    // Renews the claim every third of the lease; cancels the work when the claim is no longer this silo's.
    private async Task RenewAsync(ArchiveWork work, Guid claim, CancellationTokenSource held)
    {
        while (!held.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(Lease / 3, held.Token);
                if (await registry.RenewAsync(claim, held.Token)) continue;
                logger.LogWarning("archive: import {ImportId} unit {UnitNo}: claim lost to another silo; leaving the file to it", work.ImportId, work.UnitNo);
                await held.CancelAsync();
            }
            catch (OperationCanceledException) when (held.IsCancellationRequested) { }
            catch (Exception e)
            {
                logger.LogWarning("archive: import {ImportId} unit {UnitNo}: claim not renewed ({Error}); trying again", work.ImportId, work.UnitNo, ErrorClassifier.Describe(e));
            }
        }
    }

    // The file's outcome; null when another claim is archiving the same bytes at the key. Errors of the catalog are
    // not outcomes: they end the round, and the file is tried again once its claim lapses.
    private async Task<ArchiveOutcome?> ArchiveClaimedAsync(ArchiveWork work, Guid claim, CancellationToken cancellationToken)
    {
        var spec = work.Spec.Archive!;
        var file = work.Unit.Key;
        string? key = null;
        var registered = false;
        try
        {
            var record = await FirstRecord.ValuesAsync(sources, work.Spec, work.Unit, spec.RecordPaths, cancellationToken);
            if (record.FirstOrDefault(v => string.IsNullOrEmpty(v.Value)).Key is { } missing)
                return Failed($"its first record has no value at '{missing}' for the key's {{record:{missing}}}");
            key = spec.KeyOf(file, work.ImportName, work.ImportId, work.LoadedAt, record);
            if (Encoding.UTF8.GetByteCount(key) > ArchiveSpec.MaxKeyBytes)
            {
                key = null;
                return Failed($"its key would be longer than S3 allows ({ArchiveSpec.MaxKeyBytes} bytes)");
            }

            await using var opened = await sources.For(work.Spec.Source).OpenRawAsync(work.Unit, cancellationToken);
            await using var bytes = await HashedFile.CopyAsync(opened.Content, cancellationToken);
            var contentType = ObjectArchive.ContentTypeOf(file);
            var entry = new ArchiveEntry(spec.Bucket, key, file, bytes.Size, bytes.Sha256, contentType, work.ImportId);
            var (found, holder) = await registry.RegisterAsync(entry, claim, Lease, cancellationToken);
            switch (found)
            {
                case ArchiveRegistration.Busy:
                    return null;
                case ArchiveRegistration.Archived:
                    return new ArchiveOutcome(ArchiveStatus.PreExisting, spec.Bucket, key, null, Registered: false);
                case ArchiveRegistration.Conflict:
                    return Failed($"the key is registered for another file, {holder}: it is not overwritten");
            }
            registered = true;
            return await UploadAsync(spec.Bucket, key, file, bytes, contentType, found == ArchiveRegistration.Resumed, cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is not NpgsqlException)
        {
            return Failed(ErrorClassifier.Describe(e));
        }

        ArchiveOutcome Failed(string why) => new(ArchiveStatus.Error, key is null ? null : spec.Bucket, key,
            $"{file}: not archived{(key is null ? "" : $" to s3://{spec.Bucket}/{key}")}: {why}", registered);
    }

    // Compares what is at the key, and puts the file when nothing is; errors that pass (an S3 5xx, a lost
    // connection) are retried with backoff for about a minute. An object that appears between the two (the store
    // refuses the put) is compared again.
    private async Task<ArchiveOutcome> UploadAsync(string bucket, string key, string file, HashedFile bytes, string contentType, bool resumed, CancellationToken cancellationToken)
    {
        // Once this registry may have put the bytes (an upload resumed after a crash, or a put that may have landed
        // before its answer was lost), the same bytes at the key are its own upload.
        var ours = resumed;
        for (var round = 0; round < 3; round++)
        {
            var (found, other) = await TransientErrors.Pipeline.ExecuteAsync(async ct => await _archive.CompareAsync(bucket, key, bytes, ct), cancellationToken);
            if (found == ObjectArchive.Found.Same) return new ArchiveOutcome(ours ? ArchiveStatus.Uploaded : ArchiveStatus.PreExisting, bucket, key, null, Registered: true);
            if (found == ObjectArchive.Found.Other) return new ArchiveOutcome(ArchiveStatus.Error, bucket, key, $"{file}: not archived: {other}", Registered: true);
            ours = true;
            if (await TransientErrors.Pipeline.ExecuteAsync(async ct => await _archive.PutAsync(bucket, key, bytes, contentType, ct), cancellationToken))
                return new ArchiveOutcome(ArchiveStatus.Uploaded, bucket, key, null, Registered: true);
        }
        return new ArchiveOutcome(ArchiveStatus.Error, bucket, key, $"{file}: not archived to s3://{bucket}/{key}: the store kept refusing the upload as if an object were there, but none was found", Registered: true);
    }
}
