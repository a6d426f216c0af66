package gateway

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// docsPage is a self-contained rendering of the OpenAPI document: no
// scripts, fonts or styles from elsewhere (the machine may be offline and
// the CSP allows only this origin).
var docsPage = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} {{.Version}}</title>
<style>
body{font:14px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1b1f23}
h1{font-size:1.6em} h2{font-size:1.1em;margin-top:2em;border-bottom:1px solid #ddd}
.op{border:1px solid #ddd;border-radius:6px;margin:.6em 0;padding:.5em .8em}
.m{display:inline-block;min-width:4.5em;font-weight:bold;font-family:monospace}
.GET{color:#0a6} .POST{color:#06c} .PUT,.PATCH{color:#a60} .DELETE{color:#c22}
code,pre{font-family:ui-monospace,monospace} pre{background:#f6f8fa;padding:1em;overflow:auto;white-space:pre-wrap}
.tag{font-size:.8em;background:#eef;border-radius:3px;padding:0 .4em;margin-left:.4em}
details summary{cursor:pointer}
</style></head><body>
<h1>{{.Title}} <small>{{.Version}}</small></h1>
<pre>{{.Description}}</pre>
<p>Machine-readable: <a href="/api/v1/openapi.yaml">/api/v1/openapi.yaml</a>.</p>
{{range .Groups}}<h2>{{.Name}}</h2>
{{range .Ops}}<div class="op"><span class="m {{.Method}}">{{.Method}}</span> <code>{{.Path}}</code>
<span class="tag">role: {{.Role}}</span>{{if .Scope}}<span class="tag">key scope: {{.Scope}}</span>{{end}}
<div>{{.Summary}}</div>
{{if .Detail}}<details><summary>details</summary><pre>{{.Detail}}</pre></details>{{end}}
</div>{{end}}{{end}}
</body></html>
`))

type docsOp struct {
	Method, Path, Role, Scope, Summary, Detail string
}

type docsGroup struct {
	Name string
	Ops  []docsOp
}

// renderDocs builds the page once at start-up.
func renderDocs(doc []byte) ([]byte, error) {
	var spec struct {
		Info struct {
			Title       string `yaml:"title"`
			Version     string `yaml:"version"`
			Description string `yaml:"description"`
		} `yaml:"info"`
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(doc, &spec); err != nil {
		return nil, fmt.Errorf("docs: parse openapi: %w", err)
	}
	groups := map[string][]docsOp{}
	order := map[string]int{"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}
	for path, item := range spec.Paths {
		for method, node := range item {
			m := strings.ToUpper(method)
			if _, ok := order[m]; !ok {
				continue
			}
			var op struct {
				Summary     string `yaml:"summary"`
				Description string `yaml:"description"`
				Role        string `yaml:"x-phoenix-role"`
				Scope       string `yaml:"x-phoenix-scope"`
			}
			_ = node.Decode(&op)
			var detail bytes.Buffer
			if op.Description != "" {
				detail.WriteString(op.Description + "\n\n")
			}
			if raw, err := yaml.Marshal(&node); err == nil {
				detail.Write(raw)
			}
			group := "other"
			if parts := strings.Split(strings.TrimPrefix(path, "/api/v1/"), "/"); strings.HasPrefix(path, "/api/v1/") && len(parts) > 0 {
				group = parts[0]
			}
			groups[group] = append(groups[group], docsOp{Method: m, Path: path, Role: op.Role, Scope: op.Scope, Summary: op.Summary, Detail: detail.String()})
		}
	}
	var out []docsGroup
	for name, ops := range groups {
		sort.Slice(ops, func(i, j int) bool {
			if ops[i].Path != ops[j].Path {
				return ops[i].Path < ops[j].Path
			}
			return order[ops[i].Method] < order[ops[j].Method]
		})
		out = append(out, docsGroup{Name: name, Ops: ops})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	var buf bytes.Buffer
	err := docsPage.Execute(&buf, map[string]any{"Title": spec.Info.Title, "Version": spec.Info.Version,
		"Description": spec.Info.Description, "Groups": out})
	if err != nil {
		return nil, fmt.Errorf("docs: render: %w", err)
	}
	return buf.Bytes(), nil
}

func (g *Gateway) serveDocs(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(g.docs)
}
