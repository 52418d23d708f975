// Development-only secrets, published on purpose so `npm run dev` needs no setup.
// config.ts refuses to start with any of them when NODE_ENV=production, and otherwise unless
// every address the service listens on is loopback.

export const DEV_OTP_HASH_SECRET = 'dev-only-otp-hash-secret-do-not-use-in-production';
export const DEV_JOB_ENCRYPTION_KEY = 'dev-only-job-encryption-key-do-not-use-in-production';
export const DEV_SECRET_ENCRYPTION_KEY = 'dev-only-secret-encryption-key-do-not-use-in-production';
export const DEV_JWT_PRIVATE_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgt2eqTy+XSrFIpI4D
xCiFdRy2NxgKeZBOavxF9Fcl/DShRANCAARHw2rqA5vI1m4mJPVaSIt7cecnMpC3
39fPU1Isrox6aYdCF+fQavWQNLrNY20hAbUVnKQMXs6DMIDOiIMW+ly4
-----END PRIVATE KEY-----
`;
