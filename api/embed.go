// Package api embeds Phoenix's API contract (openapi.yaml) so the gateway can
// serve it and tests can check the router against it.
package api

import _ "embed"

// OpenAPI is api/openapi.yaml, the source of truth for the REST API.
//
//go:embed openapi.yaml
var OpenAPI []byte
