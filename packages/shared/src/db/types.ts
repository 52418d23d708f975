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
export interface OtpChallengesTable {
  id: string;
  email: string;
  /** Name offered at sign-up, applied only when this challenge creates the user. */
  name: string | null;
  /** HMAC-SHA256 of `${id}:${code}`; the code itself is never stored. */
  code_hash: Buffer;
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
}

export interface RefreshTokensTable {
  id: Generated<string>;
  session_id: string;
  /** SHA-256 of the opaque token. */
  token_hash: Buffer;
  created_at: CreatedAt;
  /** Set when this token was exchanged; presenting it again is reuse. */
  rotated_at: Date | null;
}

export type DeliveryStatus = 'sending' | 'sent' | 'retrying' | 'failed' | 'skipped';

export interface EmailDeliveriesTable {
  job_id: string;
  kind: string;
  recipient: string;
  status: DeliveryStatus;
  attempts: Generated<number>;
  last_error: string | null;
  message_id: string | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

/** Every table, as Kysely sees the database. */
export interface Database {
  users: UsersTable;
  otp_challenges: OtpChallengesTable;
  sessions: SessionsTable;
  refresh_tokens: RefreshTokensTable;
  email_deliveries: EmailDeliveriesTable;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type OtpChallenge = Selectable<OtpChallengesTable>;
export type Session = Selectable<SessionsTable>;
export type EmailDelivery = Selectable<EmailDeliveriesTable>;
