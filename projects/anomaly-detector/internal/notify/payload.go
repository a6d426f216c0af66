// Package notify sends alert events to notification channels: a generic
// webhook (JSON signed with HMAC-SHA256), Slack incoming webhooks, PagerDuty
// Events API v2 and Microsoft Teams (MessageCard). Payloads are built by
// pure functions, one per channel type; a Dispatcher delivers them from a
// bounded queue with retries and exponential backoff and reports each
// delivery's status.
package notify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

// SignatureHeader carries a generic webhook's signature:
// sha256=<hex HMAC-SHA256 of the body with the channel's secret>.
const SignatureHeader = "X-Phoenix-Signature"

// Message is one HTTP POST to a channel.
type Message struct {
	URL     string
	Body    []byte
	Headers map[string]string
}

// Sign returns the signature header value of body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header value in constant time (receivers and
// tests use it).
func Verify(secret, body []byte, header string) bool {
	return hmac.Equal([]byte(header), []byte(Sign(secret, body)))
}

// Build renders n for channel ch (secret is its decrypted secret, empty
// when none is set).
func Build(ch apiv1.Channel, secret []byte, n apiv1.Notification) ([]Message, error) {
	switch ch.Type {
	case apiv1.ChannelWebhook:
		body, err := json.Marshal(n)
		if err != nil {
			return nil, fmt.Errorf("webhook payload: %w", err)
		}
		h := map[string]string{"Content-Type": "application/json", "X-Phoenix-Event": n.Event}
		if len(secret) > 0 {
			h[SignatureHeader] = Sign(secret, body)
		}
		return []Message{{URL: ch.URL, Body: body, Headers: h}}, nil
	case apiv1.ChannelSlack:
		return jsonMessage(ch.URL, slackPayload(n))
	case apiv1.ChannelTeams:
		return jsonMessage(ch.URL, teamsPayload(n))
	case apiv1.ChannelPagerDuty:
		if len(secret) == 0 {
			return nil, fmt.Errorf("pagerduty channel %s: no routing key (secret)", ch.ID)
		}
		url := ch.URL
		if url == "" {
			url = apiv1.PagerDutyEventsURL
		}
		var out []Message
		for _, ev := range pagerDutyEvents(string(secret), n) {
			m, err := jsonMessage(url, ev)
			if err != nil {
				return nil, err
			}
			out = append(out, m...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown channel type %q", ch.Type)
}

func jsonMessage(url string, v any) ([]Message, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	return []Message{{URL: url, Body: bytes.TrimRight(buf.Bytes(), "\n"), Headers: map[string]string{"Content-Type": "application/json"}}}, nil
}

// Title is the one-line text of an alert event.
func Title(n apiv1.Notification) string {
	a := n.Alert
	verb := map[string]string{"fired": "FIRING", "acknowledged": "ACKNOWLEDGED", "resolved": "RESOLVED", "test": "TEST"}[n.Event]
	if verb == "" {
		verb = strings.ToUpper(n.Event)
	}
	return fmt.Sprintf("[%s] %s %s on stream %s", verb, strings.ToUpper(a.Severity), a.Rule, a.Stream)
}

func facts(a apiv1.Alert) [][2]string {
	f := [][2]string{{"Alert", a.ID}, {"Rule", a.Rule}, {"Severity", a.Severity}, {"State", a.State}, {"Stream", a.Stream}}
	if a.Metric != "" {
		f = append(f, [2]string{"Metric", a.Metric})
	}
	if a.Label != "" {
		f = append(f, [2]string{"Label", a.Label})
	}
	return f
}

var slackColor = map[string]string{
	apiv1.SeverityCritical: "#b71c1c", apiv1.SeverityHigh: "#e65100", apiv1.SeverityMedium: "#f9a825", apiv1.SeverityLow: "#607d8b",
}

// slackPayload is an incoming-webhook message: text plus one attachment
// with the facts (https://api.slack.com/messaging/webhooks).
func slackPayload(n apiv1.Notification) map[string]any {
	color := slackColor[n.Alert.Severity]
	if n.Event == "resolved" {
		color = "#2e7d32"
	}
	var fields []map[string]any
	for _, f := range facts(n.Alert) {
		fields = append(fields, map[string]any{"title": f[0], "value": f[1], "short": true})
	}
	return map[string]any{
		"text": Title(n),
		"attachments": []map[string]any{{
			"color": color, "fallback": n.Alert.Summary, "text": n.Alert.Summary, "fields": fields,
		}},
	}
}

// teamsPayload is a connector MessageCard
// (https://learn.microsoft.com/outlook/actionable-messages/message-card-reference).
func teamsPayload(n apiv1.Notification) map[string]any {
	color := strings.TrimPrefix(slackColor[n.Alert.Severity], "#")
	if n.Event == "resolved" {
		color = "2e7d32"
	}
	var fs []map[string]string
	for _, f := range facts(n.Alert) {
		fs = append(fs, map[string]string{"name": f[0], "value": f[1]})
	}
	return map[string]any{
		"@type": "MessageCard", "@context": "https://schema.org/extensions",
		"summary": Title(n), "themeColor": color, "title": Title(n), "text": n.Alert.Summary,
		"sections": []map[string]any{{"facts": fs}},
	}
}

var pdSeverity = map[string]string{
	apiv1.SeverityCritical: "critical", apiv1.SeverityHigh: "error", apiv1.SeverityMedium: "warning", apiv1.SeverityLow: "info",
}

// pagerDutyEvents maps an alert event to Events API v2 events
// (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/): the
// dedup key is the alert id, so acknowledge and resolve reach the incident
// the trigger opened. A test triggers and resolves at once.
func pagerDutyEvents(routingKey string, n apiv1.Notification) []map[string]any {
	ev := func(action string) map[string]any {
		m := map[string]any{"routing_key": routingKey, "event_action": action, "dedup_key": n.Alert.ID}
		if action == "trigger" {
			sev := pdSeverity[n.Alert.Severity]
			if sev == "" {
				sev = "error"
			}
			details := map[string]any{}
			for _, f := range facts(n.Alert) {
				details[strings.ToLower(f[0])] = f[1]
			}
			m["payload"] = map[string]any{
				"summary": truncate(Title(n)+": "+n.Alert.Summary, 1024), "source": "phoenix/" + n.Alert.Stream,
				"severity": sev, "component": n.Alert.Metric, "group": n.Alert.Group, "class": n.Alert.Rule,
				"custom_details": details,
			}
		}
		return m
	}
	switch n.Event {
	case "acknowledged":
		return []map[string]any{ev("acknowledge")}
	case "resolved":
		return []map[string]any{ev("resolve")}
	case "test":
		return []map[string]any{ev("trigger"), ev("resolve")}
	}
	return []map[string]any{ev("trigger")}
}

// truncate cuts s to at most n bytes (PagerDuty's summary limit is 1024).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
