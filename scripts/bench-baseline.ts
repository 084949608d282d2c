// Benchmark baseline (see scripts/bench.ts): load the same SDKs and libraries the program
// loads, under the same launcher, and exit. Nothing else: no config, no mocks, no resources.
// The modules are referenced, not just imported, so no transpiler can drop an unused import.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as tls from "@pulumi/tls";
import * as random from "@pulumi/random";
import * as command from "@pulumi/command";
import * as yaml from "yaml";
import { z } from "zod";

const loaded = { pulumi, docker, tls, random, command, yaml, zod: z };
process.stdout.write(`loaded ${Object.entries(loaded).filter(([, m]) => m !== undefined).map(([k]) => k).join(" ")}\n`);
