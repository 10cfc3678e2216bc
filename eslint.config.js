// ESLint for the whole repository: type-aware typescript-eslint rules, plus the layer rule from
// docs/architecture.md (src/helix, src/segments and src/deepstore never import the agent or each other), so it
// cannot be broken by accident. Formatting is Prettier's job (npm run format), not ESLint's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** The three libraries; each may import src/errors.ts, src/log.ts and src/pinot-format/, never a sibling. */
const LAYERS = ['helix', 'segments', 'deepstore'];

/** no-restricted-imports patterns that keep `layer` away from the agent and from the other libraries. */
function layerBoundary(layer) {
  const others = LAYERS.filter((other) => other !== layer);
  return {
    files: [`src/${layer}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: String.raw`^\.\./(?:\.\./)*(?:agent|${others.join('|')})(?:/|$)`,
              message: `src/${layer} is a library: it never imports src/agent or another library (docs/architecture.md, "Layers"). Move shared code to src/pinot-format, src/errors.ts or src/log.ts, or compose in src/agent.`,
            },
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ['dist/**', 'coverage/**', 'node_modules/**', 'docker/**', 'bench/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Unused bindings are errors, except the conventional `_` prefix for a required-but-unused parameter.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      // `let x; ... closure reads x?. ...; x = new X()`: the closure must see undefined, not a TDZ error.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      'no-console': 'off',
      eqeqeq: ['error', 'always'],
      // Abort paths reject and throw `signal.reason` as it is (an AbortSignal's reason is `unknown`): wrapping
      // it would hide the caller's own reason from the caller.
      '@typescript-eslint/prefer-promise-reject-errors': [
        'error',
        { allowThrowingAny: true, allowThrowingUnknown: true },
      ],
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      // Interface methods are async so that every implementation has the same shape, whether or not it awaits.
      '@typescript-eslint/require-await': 'off',
    },
  },
  ...LAYERS.map(layerBoundary),
  {
    // Tests read what they asserted a moment ago and hand vitest async callbacks: the unsafe-* family would only
    // add casts there.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      // expect(store.put).toHaveBeenCalled() and log fields printed as they came: both idioms of these files.
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-base-to-string': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
