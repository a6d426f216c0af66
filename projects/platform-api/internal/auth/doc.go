// Package auth holds Phoenix's credential primitives, shared by the gateway
// and any service that needs them: the phx_ API key format (prefixed,
// checksummed, stored as a hash), argon2id password hashing, and HS256 JWT
// access tokens with key ids, pinned algorithms and strict claim checks.
package auth
