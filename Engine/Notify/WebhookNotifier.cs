using System.Net.Http.Headers;
using System.Text;

namespace Ingest.Engine.Notify;

/// <summary>
/// POSTs events to webhooks, with an <c>Idempotency-Key</c> header holding the event's id (the same
/// on every retry and on a republish after a crash), retried with backoff on errors and non-2xx answers.
/// </summary>
public sealed class WebhookNotifier(HttpClient http)
{
    /// <summary>Attempts per event within one dispatch; after them the event waits for the dispatcher's next round.</summary>
    public const int Attempts = 5;

    public async Task PostAsync(string url, long eventId, string payload, CancellationToken cancellationToken = default)
    {
        var wait = TimeSpan.FromMilliseconds(200);
        for (var attempt = 1; ; attempt++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, url)
            {
                Content = new StringContent(payload, Encoding.UTF8, new MediaTypeHeaderValue("application/json")),
            };
            request.Headers.Add("Idempotency-Key", eventId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            try
            {
                using var response = await http.SendAsync(request, cancellationToken);
                if (response.IsSuccessStatusCode) return;
                if (attempt == Attempts) throw new HttpRequestException($"webhook {url} answered {(int)response.StatusCode} to event {eventId} {Attempts} times");
            }
            catch (HttpRequestException) when (attempt < Attempts)
            {
            }
            catch (TaskCanceledException) when (attempt < Attempts && !cancellationToken.IsCancellationRequested)
            {
            }
            await Task.Delay(wait, cancellationToken);
            wait *= 2;
        }
    }
}
