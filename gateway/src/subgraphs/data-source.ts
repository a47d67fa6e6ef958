import { type GraphQLDataSourceProcessOptions, RemoteGraphQLDataSource } from "@apollo/gateway";

type SubgraphResponse = Awaited<ReturnType<RemoteGraphQLDataSource["process"]>>;
type FormattedError = NonNullable<SubgraphResponse["errors"]>[number];

/** Only reads are shared: two identical mutation fetches are two writes on purpose. */
const READ = /^\s*(?:query\b|\{)/;
const JSON_TYPE = /^application\/(?:graphql-response\+)?json/;

/**
 * A subgraph data source that never asks a subgraph the same thing twice within one operation, which
 * @apollo/gateway does not prevent:
 * - an entity fetch lists one representation per entity reached, so 50 tasks with the same assignee
 *   sent identity 50 copies of `{ __typename: "User", id }`; each is sent once here, and the answer
 *   copied back to every entity that asked;
 * - the same fetch (subgraph, query and variables) reached twice by the plan of a query, in parallel
 *   branches or one after the other, is sent once.
 * The executor writes into what it receives (it merges later fetches into these objects), so no two
 * consumers may hold the same object: the first one gets the answer itself, every later one a copy
 * parsed again from the body as it arrived (by then the first one's may have been written into). Most
 * fetches have one consumer and cost no copy.
 * Mutation fetches pass through untouched, and within a mutation operation a read is never reused by a
 * later one: the root fields run one after the other, and what the first one wrote changes what the
 * second one reads.
 */
export class DedupingDataSource<
  // biome-ignore lint/suspicious/noExplicitAny: RemoteGraphQLDataSource's own constraint
  TContext extends Record<string, any> = Record<string, any>,
> extends RemoteGraphQLDataSource<TContext> {
  /** Fetches of the operation a context belongs to, by what they ask; gone with the context. */
  private readonly fetches = new WeakMap<object, Map<string, Promise<SubgraphResponse>>>();
  /** Each JSON body's text, by the HTTP response it came in (which the parsed response keeps as `http`). */
  private readonly bodies = new WeakMap<object, string>();

  override async process(options: GraphQLDataSourceProcessOptions<TContext>): Promise<SubgraphResponse> {
    const { request, context } = options;
    if (options.kind !== "incoming operation" || !request.query || !READ.test(request.query))
      return super.process(options);

    const representations = request.variables?.representations;
    const unique = Array.isArray(representations) ? uniqueOf(representations) : undefined;
    const variables = unique ? { ...request.variables, representations: unique.values } : request.variables;
    const key = `${request.operationName ?? ""}\n${request.query}\n${JSON.stringify(variables ?? {})}`;

    const fetches =
      options.incomingRequestContext.operation?.operation === "query" ? this.fetchesOf(context) : undefined;
    const shared = fetches?.get(key);
    let response: SubgraphResponse;
    if (shared) {
      response = this.copyOf(await shared);
    } else {
      const pending = super.process({ ...options, request: { ...request, variables } });
      fetches?.set(key, pending);
      response = await pending;
    }
    return unique && unique.values.length < unique.indexes.length
      ? expand(response, unique.indexes)
      : response;
  }

  /** As Apollo's for JSON (which every subgraph answers), keeping the text for later consumers' copies. */
  override async parseBody(...args: Parameters<RemoteGraphQLDataSource<TContext>["parseBody"]>) {
    const [fetchResponse] = args;
    if (!JSON_TYPE.test(fetchResponse.headers.get("content-type") ?? "")) return super.parseBody(...args);
    const text = await fetchResponse.text();
    this.bodies.set(fetchResponse, text);
    return JSON.parse(text);
  }

  /** A later consumer's own copy of a shared answer: its body parsed again. */
  private copyOf(response: SubgraphResponse): SubgraphResponse {
    const text = response.http && this.bodies.get(response.http);
    // Every answer comes through parseBody (a body that is not JSON fails the fetch before).
    if (text === undefined) throw new Error("the subgraph's answer was not kept to be copied");
    const body: SubgraphResponse = JSON.parse(text);
    return { ...response, data: body.data, errors: body.errors };
  }

  private fetchesOf(context: object): Map<string, Promise<SubgraphResponse>> {
    let fetches = this.fetches.get(context);
    if (!fetches) {
      fetches = new Map();
      this.fetches.set(context, fetches);
    }
    return fetches;
  }
}

/** The distinct representations, in first-seen order, and for each original one its distinct index. */
function uniqueOf(representations: unknown[]) {
  const seen = new Map<string, number>();
  const values: unknown[] = [];
  const indexes = representations.map((representation) => {
    const key = JSON.stringify(representation);
    let index = seen.get(key);
    if (index === undefined) {
      index = values.push(representation) - 1;
      seen.set(key, index);
    }
    return index;
  });
  return { values, indexes };
}

/**
 * A deep copy of a JSON value (plain objects, arrays, primitives: what JSON.parse makes). For the small
 * entities copied per request this is an order of magnitude cheaper than structuredClone.
 */
function copyJson<T>(value: T): T {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(copyJson) as T;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) copy[key] = copyJson((value as Record<string, unknown>)[key]);
  return copy as T;
}

/** Back to one entity (and its errors) per representation the executor sent, in its order. */
function expand(response: SubgraphResponse, indexes: number[]): SubgraphResponse {
  const entities = response.data?._entities;
  const handedOut = new Set<number>();
  // The first entity that asked gets the answer itself, the others a copy each.
  const entityFor = (u: number) => {
    if (handedOut.has(u)) return copyJson(entities[u]);
    handedOut.add(u);
    return entities[u];
  };
  const data =
    Array.isArray(entities) && response.data
      ? { ...response.data, _entities: indexes.map(entityFor) }
      : response.data;
  const errors = response.errors?.flatMap((error): FormattedError[] => {
    const [head, at, ...rest] = error.path ?? [];
    if (head !== "_entities" || typeof at !== "number") return [error];
    return indexes.flatMap((u, i) => (u === at ? [{ ...error, path: ["_entities", i, ...rest] }] : []));
  });
  return { ...response, data, errors };
}
