import { Code, ConnectError } from "@connectrpc/connect";

/**
 * The message an owner reads for a failed call: the server's own message
 * (ConnectError.rawMessage), with field names spelled as words and
 * capitalised, or a plain
 * explanation when the server could not be reached at all.
 */
export function errorText(err: unknown): string {
  const e = ConnectError.from(err);
  if (e.code === Code.Unavailable || (e.code === Code.Unknown && /fetch|network/i.test(e.rawMessage))) {
    return "Loyalty+ cannot be reached. Check your connection and try again.";
  }
  if (e.code === Code.DeadlineExceeded) return "Loyalty+ took too long to answer. Try again.";
  if (e.code === Code.Internal && e.rawMessage === "internal error") {
    return "Something went wrong on our side. Try again in a moment.";
  }
  // The API names JSON fields (`rewardTitle is required`); owners read words.
  const text = (e.rawMessage.trim() || "The request failed.").replace(/\b[a-z]+(?:[A-Z][a-z]+)+\b/g, (w) =>
    w.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`),
  );
  return text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : ".");
}
