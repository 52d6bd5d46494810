import { config, locales, NEVER, pipe, string, transform, type ZodMiniType } from 'zod/mini';

/**
 * The zod every schema that ships in a Lambda bundle uses: `zod/mini`, about 40 KB minified against about 190 KB for
 * classic zod, whose chainable methods keep every check and the JSON Schema converters alive in a bundle. Import it
 * as a namespace (`import * as z from '.../adapters/zod'`): esbuild then keeps only the functions a bundle calls,
 * where re-exporting zod's own `z` object would keep all of them.
 *
 * Classic zod registers its English messages on first use; `zod/mini` has no default locale and would answer every
 * problem with "Invalid input". English is registered here, once, as soon as any module uses this zod, so messages
 * read exactly as classic zod writes them. Both share one global configuration (zod/v4/core), so a process that
 * loads both (the Pulumi program, the local server, tests) sees the same messages from either.
 */
config(locales.en());

export * from 'zod/mini';

/** A JSON text holding a value `schema` accepts: environment variables and secrets carry JSON as strings. */
export function jsonText<S extends ZodMiniType>(schema: S, notJson = 'is not valid JSON') {
  return pipe(
    pipe(
      string(),
      transform((text: string, ctx) => {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          ctx.issues.push({ code: 'custom', message: notJson, input: text });
          return NEVER;
        }
      }),
    ),
    schema,
  );
}
