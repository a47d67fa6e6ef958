import DataLoader from "dataloader";

/** One parent's page request: which parent, and the validated, JSON-able page arguments. */
export interface PageKey<A> {
  parentId: string;
  args: A;
}

/**
 * Per request: connection pages of many parents in one query per distinct set of arguments (the list
 * of 50 projects each asking for its first 10 tasks is one query, not 50). `load` gets the parents
 * and returns every parent's rows; `parentOf` says whose row each is.
 */
export function pageLoader<A, R>(
  load: (parentIds: string[], args: A) => Promise<R[]>,
  parentOf: (row: R) => string | null,
) {
  const cacheKey = (key: PageKey<A>) => `${key.parentId}\u0000${JSON.stringify(key.args)}`;
  return new DataLoader<PageKey<A>, R[], string>(
    async (keys) => {
      const groups = new Map<string, { args: A; parentIds: Set<string> }>();
      for (const { parentId, args } of keys) {
        const argsKey = JSON.stringify(args);
        const group = groups.get(argsKey) ?? { args, parentIds: new Set<string>() };
        group.parentIds.add(parentId);
        groups.set(argsKey, group);
      }
      const pages = new Map<string, R[]>();
      await Promise.all(
        [...groups.values()].map(async ({ args, parentIds }) => {
          for (const row of await load([...parentIds], args)) {
            const key = cacheKey({ parentId: parentOf(row) ?? "", args });
            pages.set(key, [...(pages.get(key) ?? []), row]);
          }
        }),
      );
      return keys.map((key) => pages.get(cacheKey(key)) ?? []);
    },
    { cacheKeyFn: cacheKey },
  );
}
