import { resolveTxt } from "node:dns/promises";

/** What domain verification needs of DNS; tests replace it with records of their own. */
export interface DnsResolver {
  /** The TXT records at `name`, each as its character strings (as node:dns returns them). */
  resolveTxt(name: string): Promise<string[][]>;
}

/** The system resolver. */
export const systemDns: DnsResolver = { resolveTxt };
