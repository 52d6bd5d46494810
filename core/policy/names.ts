/**
 * Names in the policy file, free of zod and YAML so any bundle can import them (the API checks target names
 * before deciding; the local login checks group names).
 */

/** Group and rule names travel in events and messages; target names also end up in cloud resource names. */
export const GROUP_NAME = /^(?:[a-z0-9][a-z0-9_-]{0,63}|sso:[A-Za-z0-9+=,.@_-]{1,32})$/;
/**
 * Groups only an identity source asserts: `sso:<PermissionSet>` for IAM Identity Center sessions (the permission
 * set's own name and case). They may be used in `who:` and approvers without being declared under `groups:`.
 */
export const ASSERTED_GROUP_PREFIX = 'sso:';
/** How a bad group name is explained, wherever one is checked. */
export const GROUP_NAME_RULE =
  'a group name is 1-64 of a-z, 0-9, _ and -, starting with a letter or digit (or sso:<PermissionSet>)';
export const TARGET_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const RULE_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** How a subject names a group rather than a principal: `group:sre`. */
export const GROUP_PREFIX = 'group:';
