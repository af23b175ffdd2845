/**
 * Answers in the published reference's shape (issue 15): a business that
 * never touched the rewards catalogue (only its default reward, no active
 * promotion) gets over REST byte for byte the answers it got before the
 * catalogue existed. The service marks such an answer here; the REST
 * gateway reads the mark (`transport/reference-shape.ts`) and leaves the
 * empty catalogue list out of its JSON.
 */
const marked = new WeakSet<object>();

/** Marks an answer as one in the reference's shape. */
export function referenceShape<T extends object>(message: T): T {
  marked.add(message);
  return message;
}

/** Whether the service marked this answer. */
export function isReferenceShaped(message: object): boolean {
  return marked.has(message);
}

const noExpiry = new WeakSet<object>();

/** Marks an answer of a business that never had an expiry policy (issue 16): REST leaves the expiry additions out. */
export function expiryShape<T extends object>(message: T): T {
  noExpiry.add(message);
  return message;
}

/** Whether the service marked this answer with expiryShape. */
export function isExpiryShaped(message: object): boolean {
  return noExpiry.has(message);
}
