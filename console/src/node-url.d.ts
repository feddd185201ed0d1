// For vite.config.ts only (it runs in Node, the console in the browser): the one Node API it
// uses, declared here rather than adding @types/node to the console's dependencies.
declare module "node:url" {
  export function fileURLToPath(url: string | URL): string;
}
