/** The four subgraphs, their default ports and the gateway's environment variable for each URL. */
export const SUBGRAPHS = [
  { name: "tenants", port: 4001, urlEnv: "TENANTS_URL" },
  { name: "identity", port: 4002, urlEnv: "IDENTITY_URL" },
  { name: "projects", port: 4003, urlEnv: "PROJECTS_URL" },
  { name: "billing", port: 4004, urlEnv: "BILLING_URL" },
] as const;

export type SubgraphName = (typeof SUBGRAPHS)[number]["name"];
