import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

type CreatedAt = ColumnType<Date, Date | undefined, never>;

export interface UsersTable {
  id: Generated<string>;
  /** Stored lower-cased and trimmed; unique. */
  email: string;
  name: string | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

/** Only the newest challenge of an email is live: a new request supersedes older ones implicitly. */
/** What happened in sign-in, for the account's activity and for audits. Never a code or token. */
export interface AuthEventsTable {
  id: Generated<string>;
  at: Date;
  /** code_failed: a wrong, used, expired or unknown challenge's code. */
  kind: string;
  challenge_id: string | null;
  client_key: Generated<string>;
  user_id: string | null;
  session_id: string | null;
  ip: string | null;
  user_agent: string | null;
}

export interface OtpChallengesTable {
  id: string;
  email: string;
  /** Name offered at sign-up, applied only when this challenge creates the user. */
  name: string | null;
  /** Canonical mailbox of `email` (see canonicalMailbox): the per-address limits count by it. */
  mailbox: string;
  /** The requesting client (IP; IPv6 by /64); only its own requests count against its budget. */
  client_key: Generated<string>;
  /** HMAC-SHA256 of `${id}:${code}`; the code itself is never stored. */
  code_hash: Buffer;
  /** 6, or 10 once the mailbox had too many wrong guesses in a day. */
  code_length: Generated<number>;
  /** Over a mailbox limit: answered like any other request, but never mailed. */
  suppressed: Generated<boolean>;
  /** For a suppressed one: the same client's live mailed challenge whose code it accepts. */
  stands_for: string | null;
  attempts: Generated<number>;
  created_at: CreatedAt;
  expires_at: Date;
  consumed_at: Date | null;
}

export interface SessionsTable {
  /** Also the refresh-token family: every rotation stays in one session. */
  id: string;
  user_id: string;
  created_at: CreatedAt;
  expires_at: Date;
  last_refreshed_at: Date | null;
  revoked_at: Date | null;
  revoked_reason: string | null;
  /** Last sign-in, refresh or authenticated request (written at most once a minute). */
  last_used_at: Date | null;
  user_agent: string | null;
  ip: string | null;
}

export interface RefreshTokensTable {
  id: Generated<string>;
  session_id: string;
  /** SHA-256 of the opaque token. */
  token_hash: Buffer;
  created_at: CreatedAt;
  /** Set when this token was exchanged; presenting it again is reuse (after the grace window). */
  rotated_at: Date | null;
  /** The token that replaced this one, answered again within the grace window. */
  successor_id: string | null;
}

/**
 * `sending` is a claim held by a running mailer until `lease_until`; `uncertain` is final: the
 * server may or may not have the message, and the kind is not sent again (see migration 0005).
 */
export type DeliveryStatus = 'sending' | 'sent' | 'retrying' | 'failed' | 'skipped' | 'uncertain';

export interface EmailDeliveriesTable {
  job_id: string;
  kind: string;
  recipient: string;
  status: DeliveryStatus;
  attempts: Generated<number>;
  last_error: string | null;
  message_id: string | null;
  lease_until: Date | null;
  /** Sends whose outcome was not known (a lost connection after the session began, a run that died mid-send). */
  uncertain_sends: Generated<number>;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export type CreativeStatus = 'processing' | 'ready' | 'rejected';

export interface CreativesTable {
  id: string;
  owner_id: string;
  status: CreativeStatus;
  /** A calendar date, `YYYY-MM-DD` (read as a string, never as a Date at some midnight). */
  scheduled_on: string;
  /** The client's filename, reduced to a safe display name; never used as a path. */
  filename: string | null;
  /** Storage key of the raw upload; cleared once processing is done with it. */
  upload_key: string | null;
  upload_size: number;
  image_key: string | null;
  thumbnail_key: string | null;
  /** Detected from content: image/jpeg, image/png, image/gif or image/webp. */
  mime: string | null;
  /** Size of the normalised image. */
  byte_size: number | null;
  width: number | null;
  height: number | null;
  /** Hex SHA-256 of the normalised image; also its ETag. */
  sha256: string | null;
  rejection_reason: string | null;
  created_at: CreatedAt;
  processed_at: Date | null;
  /** Set by DELETE; cleanup removes the files and then the row. */
  deleted_at: Date | null;
}

/** A user's authenticator app. Pending (`confirmed_at` null) until a first code confirms it. */
export interface UserTotpTable {
  user_id: string;
  /** The base32 secret sealed by a SecretBox (`v2.<kid>.…`) with context `totp:<user_id>`; never in clear. */
  secret_sealed: string;
  confirmed_at: Date | null;
  /** When the current secret was made (enrolling again while pending replaces it). */
  created_at: ColumnType<Date, Date | undefined, Date>;
  /** The newest RFC 6238 time step a code was accepted for; only later steps are taken (no replay). */
  last_step: ColumnType<string | null, string | number | null | undefined, string | number | null>;
}

/** Single-use codes that stand in for the authenticator app. */
export interface RecoveryCodesTable {
  id: Generated<string>;
  user_id: string;
  /** HMAC-SHA256 of the normalised code, keyed with OTP_HASH_SECRET and bound to the user. */
  code_hash: Buffer;
  created_at: CreatedAt;
  used_at: Date | null;
}

/** The second step of a sign-in with MFA on: its token (held by the client) completes the email challenge. */
export interface MfaChallengesTable {
  id: Generated<string>;
  user_id: string;
  /** The email challenge whose right code started it; one each. */
  challenge_id: string;
  /** SHA-256 of the opaque mfa_token. */
  token_hash: Buffer;
  expires_at: Date;
  consumed_at: Date | null;
  /** Codes tried, right or wrong; the token is dead at MFA_MAX_ATTEMPTS. */
  attempts: Generated<number>;
  created_at: CreatedAt;
}

/** Every table, as Kysely sees the database. */
export interface Database {
  users: UsersTable;
  otp_challenges: OtpChallengesTable;
  auth_events: AuthEventsTable;
  sessions: SessionsTable;
  refresh_tokens: RefreshTokensTable;
  email_deliveries: EmailDeliveriesTable;
  creatives: CreativesTable;
  user_totp: UserTotpTable;
  recovery_codes: RecoveryCodesTable;
  mfa_challenges: MfaChallengesTable;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type OtpChallenge = Selectable<OtpChallengesTable>;
export type Session = Selectable<SessionsTable>;
export type EmailDelivery = Selectable<EmailDeliveriesTable>;
export type Creative = Selectable<CreativesTable>;
