// Package shared is a library every project may use; it imports none.
package shared

// V is shared.
const V = 1
