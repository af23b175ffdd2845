/**
 * Answers in the published reference's shape (issue 15): a business that
 * never touched the rewards catalogue (only its default reward, no active
 * promotion) gets over REST byte for byte the answers it got before the
 * catalogue existed. The service marks such an answer here; the REST
 * gateway reads the mark (`transport/reference-shape.ts`) and leaves the
 * empty catalogue list out of its JSON.
 */
/** A mark on answer objects: set by a service, read by the REST gateway. */
function answerMark() {
  const marked = new WeakSet<object>();
  return {
    set<T extends object>(message: T): T {
      marked.add(message);
      return message;
    },
    has: (message: object): boolean => marked.has(message),
  };
}

const reference = answerMark();
const noExpiry = answerMark();

/** Marks an answer as one in the reference's shape. */
export const referenceShape = reference.set;

/** Whether the service marked this answer. */
export const isReferenceShaped = reference.has;

/** Marks an answer of a business that never had an expiry policy (issue 16): REST leaves the expiry additions out. */
export const expiryShape = noExpiry.set;

/** Whether the service marked this answer with expiryShape. */
export const isExpiryShaped = noExpiry.has;
