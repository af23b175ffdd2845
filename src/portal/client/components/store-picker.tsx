import { useQuery } from "@connectrpc/connect-query";
import { BusinessSettings } from "../../../../gen/loyalty/v1/account_pb.js";
import { ErrorMessage, Field } from "./common.js";

/**
 * Where the owner chooses a store (API keys, a redeem at the counter,
 * promotions): the business's stores in use, by name. Archived stores are
 * left out: check-ins and new keys refuse them.
 */
function useStores() {
  return useQuery(BusinessSettings.method.listStores, {});
}

/**
 * One store, or none. `hideWhenNone`: nothing is shown while the business
 * has no store (a choice of one option is no choice).
 */
export function StoreSelect({
  label,
  hint,
  none,
  value,
  onChange,
  hideWhenNone = false,
}: {
  label: string;
  hint?: string;
  /** The label of "no store". */
  none: string;
  value: string;
  onChange: (storeId: string) => void;
  hideWhenNone?: boolean;
}) {
  const stores = useStores();
  const list = stores.data?.stores ?? [];
  if (hideWhenNone && list.length === 0 && !stores.error) return null;
  return (
    <>
      <Field label={label} hint={hint}>
        {(p) => (
          <select {...p} name="storeId" value={value} onChange={(e) => onChange(e.target.value)}>
            <option value="">{none}</option>
            {list.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name}
              </option>
            ))}
          </select>
        )}
      </Field>
      <ErrorMessage error={stores.error} />
    </>
  );
}

/** Several stores (none chosen = every store), as check boxes by name. */
export function StoreChecklist({ legend, value, onChange }: { legend: string; value: string[]; onChange: (storeIds: string[]) => void }) {
  const stores = useStores();
  const list = stores.data?.stores ?? [];
  return (
    <fieldset data-testid="store-checklist">
      <legend>{legend}</legend>
      {list.length === 0 && stores.data ? <p className="hint">No stores yet: add them on the Stores page to limit this to some.</p> : null}
      {list.map((s) => (
        <label key={s.id} className="checkbox">
          <input
            type="checkbox"
            name={`store-${s.id}`}
            checked={value.includes(s.id)}
            onChange={(e) => onChange(e.target.checked ? [...value, s.id] : value.filter((x) => x !== s.id))}
          />{" "}
          {s.name}
        </label>
      ))}
      <ErrorMessage error={stores.error} />
    </fieldset>
  );
}

/** The names of stores by id (archived ones too: a promotion may still name one). */
export function useStoreNames(): Map<string, string> {
  const stores = useQuery(BusinessSettings.method.listStores, { includeArchived: true });
  return new Map(stores.data?.stores.map((s) => [s.id, s.name]) ?? []);
}
