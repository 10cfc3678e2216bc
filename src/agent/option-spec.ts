// The shape of a command's option table and the value parsers every table shares (config.ts reads the tables).

import { z } from 'zod';

/** One option of a command: its flag, its environment variable, and its help. */
export interface OptionSpec {
  flag: string;
  /** Environment variable that sets the option when the flag is absent; none for per-invocation options. */
  env?: string;
  type: 'string' | 'boolean';
  help: string;
  default?: string;
  /** The flag may be given more than once; its variable holds every value, separated by `envSeparator`. */
  repeatable?: { envSeparator: string };
}

export const intIn = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const bool = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])])
  .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes');
