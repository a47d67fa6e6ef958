import { parseEnv, port, subgraphEnv } from "@app/common/env";
import type { z } from "zod";

export const projectsEnv = subgraphEnv.extend({ PORT: port.default(4003) });
export type ProjectsConfig = z.infer<typeof projectsEnv>;

export const loadEnv = () => parseEnv(projectsEnv);
