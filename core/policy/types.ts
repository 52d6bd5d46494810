/**
 * The access policy after parsing and validation. Durations are milliseconds; subjects are parsed;
 * groups are flattened (nested `group:` members resolved). Produced by `loadPolicy` in ./load.ts.
 */

export type Subject = { kind: 'group'; name: string } | { kind: 'principal'; id: string };

export interface PolicySettings {
  /** Absolute ceiling for any grant, whatever a rule or target says. */
  maxDuration: number;
  /** How long a request may wait for approval when its rule does not say. */
  pendingTimeout: number;
  /** How far ahead a requested start time may be when its rule does not say. */
  maxStartAhead: number;
  /** May revoke any grant and read every grant and the whole audit record (incident response). */
  admins?: Subject[];
  /** May read every grant and the whole audit record. */
  auditors?: Subject[];
}

interface TargetBase {
  name: string;
  description?: string;
  /** Longest grant this target allows; undefined means only the rule and global limits apply. */
  maxDuration?: number;
}

export interface AwsRoleTarget extends TargetBase {
  kind: 'aws-role';
  /** 12-digit account id. */
  account: string;
  /** Role name (without path); the stack creates it under path `/timebox/`. */
  role: string;
  /** Allowed IAM action patterns, e.g. `s3:GetObject`, `s3:List*`. */
  actions: string[];
  /** Allowed resource ARN patterns. */
  resources: string[];
  /** AWS partition, default `aws`. */
  partition: string;
}

export interface GcpRoleTarget extends TargetBase {
  kind: 'gcp-role';
  project: string;
  /** Predefined or custom roles, e.g. `roles/bigquery.dataViewer`. Basic roles are refused. */
  roles: string[];
}

export interface GrpcTarget extends TargetBase {
  kind: 'grpc';
  /** The `aud` claim services check. */
  audience: string;
  /** Method patterns: `/pkg.Svc/Method`, `/pkg.Svc/*`, `/pkg.*`. */
  methods: string[];
}

export type Target = AwsRoleTarget | GcpRoleTarget | GrpcTarget;
export type TargetKind = Target['kind'];

export type Approval =
  | { kind: 'auto' }
  | {
      kind: 'approvers';
      from: Subject[];
      count: number;
      /** Approvers must have MFA on the approving session. True when the rule requires MFA too. */
      requireMfa: boolean;
    };

/** A time window: the days it applies and a [from, to) span of minutes since local midnight. */
export interface HoursWindow {
  /** 0 = Sunday ... 6 = Saturday. */
  days: number[];
  fromMinute: number;
  toMinute: number;
  /** IANA time zone name or `UTC`. */
  timeZone: string;
  /** The text as written, for messages. */
  source: string;
}

export interface RuleConditions {
  hours?: HoursWindow;
  /** CIDR blocks; the caller's source IP must fall in one. */
  sourceIp?: string[];
}

export interface RuleRequirements {
  mfa: boolean;
  /** Attributes the identity source must assert, each with the values accepted. */
  attributes: Record<string, string[]>;
}

export interface Rule {
  name: string;
  /** Position in the file; ties between rules are broken by it. */
  index: number;
  description?: string;
  who: Subject[];
  targets: string[];
  /** Narrower scopes within the targets; undefined means each target's whole scope. */
  scopes?: string[];
  /** min(rule, target, global) is applied at decision time. */
  maxDuration?: number;
  approval: Approval;
  when: RuleConditions;
  require: RuleRequirements;
  pendingTimeout?: number;
  maxStartAhead?: number;
}

export interface Policy {
  version: 1;
  settings: PolicySettings;
  /** Group name -> principal ids (flattened, sorted, unique). */
  groups: Record<string, string[]>;
  targets: Record<string, Target>;
  rules: Rule[];
}

/** One problem found in a policy file, located in the YAML. */
export interface PolicyProblem {
  /** Dotted path such as `rules[1].approval.count`. */
  path: string;
  /** 1-based line in the file, when the YAML node could be located. */
  line?: number;
  message: string;
}
