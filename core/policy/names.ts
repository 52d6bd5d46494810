/**
 * Names in the policy file, free of zod and YAML so any bundle can import them (the API checks target names
 * before deciding; the local login checks group names).
 */

/** Group and rule names travel in events and messages; target names also end up in cloud resource names. */
export const GROUP_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const TARGET_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const RULE_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** How a subject names a group rather than a principal: `group:sre`. */
export const GROUP_PREFIX = 'group:';
