/**
 * Loads a provider's SDK the first time a step of that kind is created, not when the provider's module (its
 * config schema) is imported: the checker, the API and the CLI read the config schema of every provider, and the
 * AWS and Cloudflare SDKs alone take longer to load than the rest of a process. The type comes from a type-only
 * import of the same module, so nothing is cast but the untyped `require` result.
 */
export function lazySdk<T>(load: () => T): () => T {
  let sdk: T | undefined;
  return () => (sdk ??= load());
}
