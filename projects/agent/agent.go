// Package agent runs on a host: it supervises one phoenix-collector process
// and speaks OpAMP to the control plane. It reports its identity (an
// instance uid kept in its data dir), labels, health and effective config;
// it validates each remote config with `phoenix-collector validate`, runs
// it, waits for the collector's health_check, and reports APPLIED, or
// FAILED after falling back to the last good config. The collector keeps
// running while the control plane is away; the OpAMP client reconnects.
//
// `phoenix agent run` (NewRunCommand) is the daemon; the --dev loop of
// `phoenix server` runs the same Agent in-process.
package agent

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/open-telemetry/opamp-go/client"
	"github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"

	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
	"github.com/phoenix-platform/phoenix/pkg/version"
	"github.com/phoenix-platform/phoenix/projects/agent/internal/supervisor"
)

// ConfigFileName names the collector config in OpAMP config maps.
const ConfigFileName = "collector.yaml"

// healthPoll is how often the running collector's health is checked.
const healthPoll = 2 * time.Second

// keepConfigs bounds the config files kept in the data dir.
const keepConfigs = 5

// Settings configures an agent.
type Settings struct {
	ServerURL    string // ws://host:4320/v1/opamp
	CollectorBin string
	// Token is the agent's API key (scopes agent and ingest), the bearer
	// token of OpAMP and of the collector's exports to Phoenix ingest;
	// empty for open (--dev) servers.
	Token   string
	DataDir string
	Labels  map[string]string
	Logger  *slog.Logger
	// HealthTimeout bounds how long a new config has to become healthy.
	HealthTimeout time.Duration
	// HeartbeatInterval overrides OpAMP's 30 s heartbeat (tests).
	HeartbeatInterval time.Duration
	// MinBackoff and MaxBackoff bound collector restart delays.
	MinBackoff, MaxBackoff time.Duration
}

// Agent is one running agent.
type Agent struct {
	set    Settings
	log    *slog.Logger
	uid    types.InstanceUid
	sup    *supervisor.Supervisor
	client client.OpAMPClient

	mu         sync.Mutex
	current    []byte // last good config body (running, or to run)
	currentRef string // its hash
	status     remoteStatus
	lastHealth *protobufs.ComponentHealth
	// warned rate-limits connection failure logs: message -> last logged.
	warned map[string]time.Time

	pending chan *protobufs.AgentRemoteConfig // latest remote config wins
	wake    chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup
	started time.Time
}

// remoteStatus is the RemoteConfigStatus, persisted so a restarted agent
// reports what it last applied.
type remoteStatus struct {
	Hash   string `json:"hash"`
	Status string `json:"status"` // applied, applying, failed
	Error  string `json:"error,omitempty"`
}

// New prepares an agent: it creates the data dir, loads or creates the
// instance uid and loads the last good config.
func New(set Settings) (*Agent, error) {
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	if set.ServerURL == "" {
		return nil, errors.New("server URL is required")
	}
	if !supervisor.Exists(set.CollectorBin) {
		return nil, fmt.Errorf("collector binary %q not found or not executable", set.CollectorBin)
	}
	if err := os.MkdirAll(filepath.Join(set.DataDir, "configs"), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	a := &Agent{
		set: set, log: set.Logger,
		pending: make(chan *protobufs.AgentRemoteConfig, 1), wake: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	var err error
	if a.uid, err = loadUID(filepath.Join(set.DataDir, "instance_uid")); err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(set.DataDir, "remote_status.json")); err == nil {
		_ = json.Unmarshal(b, &a.status)
	}
	if a.status.Status == "applying" {
		// Stopped mid-apply: forget it, so the server sees a hash other
		// than its desired one and sends the config again.
		a.status = remoteStatus{}
	}
	if ref, err := os.ReadFile(filepath.Join(set.DataDir, "current")); err == nil {
		r := strings.TrimSpace(string(ref))
		if body, err := os.ReadFile(a.configPath(r)); err == nil {
			a.current, a.currentRef = body, r
		}
	}
	a.sup = supervisor.New(supervisor.Settings{
		Bin: set.CollectorBin, Logger: set.Logger.With("component", "collector"),
		HealthTimeout: set.HealthTimeout, MinBackoff: set.MinBackoff, MaxBackoff: set.MaxBackoff,
		OnChange: a.poke,
		// The collector's exporters to Phoenix ingest read these
		// (pipelinegen.IngestHeaders): the same key and id as OpAMP, so a
		// reserved variant stream admits this agent's data (ADR 0016).
		// Always set, empty token included, so a stale value inherited
		// from the agent's own environment never reaches the collector.
		Env: []string{
			pipelinegen.EnvIngestToken + "=" + set.Token,
			pipelinegen.EnvAgentID + "=" + a.ID(),
		},
	})
	return a, nil
}

// loadUID reads the instance uid, creating it (a UUIDv7) on first start.
func loadUID(path string) (types.InstanceUid, error) {
	if b, err := os.ReadFile(path); err == nil {
		id, err := uuid.Parse(strings.TrimSpace(string(b)))
		if err != nil {
			return types.InstanceUid{}, fmt.Errorf("instance uid in %s: %w", path, err)
		}
		return types.InstanceUid(id), nil
	}
	id, err := uuid.NewV7()
	if err != nil {
		return types.InstanceUid{}, fmt.Errorf("new instance uid: %w", err)
	}
	if err := writeFile(path, []byte(id.String()+"\n")); err != nil {
		return types.InstanceUid{}, err
	}
	return types.InstanceUid(id), nil
}

// ID is the agent's fleet id (its instance uid as a UUID string).
func (a *Agent) ID() string { return uuid.UUID(a.uid).String() }

// CollectorPID is the running collector's PID, 0 when none runs.
func (a *Agent) CollectorPID() int { return a.sup.State().PID }

// EffectiveConfigHash is the hash of the config the collector runs.
func (a *Agent) EffectiveConfigHash() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.currentRef
}

// Healthy reports whether the collector runs and answers its health check.
func (a *Agent) Healthy(ctx context.Context) bool {
	ok, _ := a.sup.Check(ctx)
	return ok
}

// Start runs the last good config (if any) and connects to the server. It
// returns once the OpAMP client is started; connecting happens in the
// background, with retries.
func (a *Agent) Start(ctx context.Context) error {
	a.started = time.Now()
	a.mu.Lock()
	cur := a.current
	ref := a.currentRef
	a.mu.Unlock()
	if cur != nil {
		// The control plane may be away: run what ran before.
		if err := a.sup.Run(ctx, a.configPath(ref), cur); err != nil {
			a.log.Warn("last good config did not come up healthy", "error", err)
		}
	}
	a.client = client.NewWebSocket(&logAdapter{l: a.log.With("component", "opamp"), warn: a.warnLimited})
	if err := a.client.SetAgentDescription(a.description()); err != nil {
		return fmt.Errorf("agent description: %w", err)
	}
	if err := a.client.SetHealth(a.health(ctx)); err != nil {
		return fmt.Errorf("agent health: %w", err)
	}
	caps := protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus |
		protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsEffectiveConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsHealth |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsHeartbeat
	if err := a.client.SetCapabilities(&caps); err != nil {
		return fmt.Errorf("agent capabilities: %w", err)
	}
	hdr := http.Header{}
	if a.set.Token != "" {
		hdr.Set("Authorization", "Bearer "+a.set.Token)
	}
	set := types.StartSettings{
		OpAMPServerURL:     a.set.ServerURL,
		Header:             hdr,
		InstanceUid:        a.uid,
		RemoteConfigStatus: a.protoStatus(),
		Callbacks: types.Callbacks{
			OnConnect: func(context.Context) {
				a.log.Info("connected to control plane", "server", a.set.ServerURL)
				a.mu.Lock()
				a.lastHealth = nil // resend health on every connection
				clear(a.warned)
				a.mu.Unlock()
				a.poke()
			},
			OnConnectFailed: func(_ context.Context, err error) {
				a.warnLimited("cannot connect to the control plane; retrying", err.Error())
			},
			OnError: func(_ context.Context, e *protobufs.ServerErrorResponse) {
				a.log.Warn("control plane error", "error", e.GetErrorMessage())
			},
			OnMessage: func(_ context.Context, msg *types.MessageData) {
				if msg.RemoteConfig == nil {
					return
				}
				select { // replace an unprocessed config: only the latest matters
				case <-a.pending:
				default:
				}
				a.pending <- msg.RemoteConfig
			},
			GetEffectiveConfig: func(context.Context) (*protobufs.EffectiveConfig, error) {
				a.mu.Lock()
				defer a.mu.Unlock()
				return &protobufs.EffectiveConfig{ConfigMap: &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{
					ConfigFileName: {Body: a.current, ContentType: "text/yaml"},
				}}}, nil
			},
		},
	}
	if a.set.HeartbeatInterval > 0 {
		hb := a.set.HeartbeatInterval
		set.HeartbeatInterval = &hb
	}
	if err := a.client.Start(ctx, set); err != nil {
		a.sup.Stop()
		return fmt.Errorf("start opamp client: %w", err)
	}
	a.wg.Add(1)
	go a.run()
	return nil
}

// Stop disconnects and stops the collector; it waits for both.
func (a *Agent) Stop(ctx context.Context) error {
	select {
	case <-a.stop:
		return nil
	default:
	}
	close(a.stop)
	a.wg.Wait()
	var err error
	if a.client != nil {
		err = a.client.Stop(ctx)
	}
	a.sup.Stop()
	return err
}

// warnLimited logs a connection problem once per distinct message and then
// at most once a minute: the OpAMP client retries every few seconds, and a
// refused token (401) must be visible without flooding the log.
func (a *Agent) warnLimited(msg, detail string) {
	now := time.Now()
	a.mu.Lock()
	if a.warned == nil || len(a.warned) > 64 {
		a.warned = map[string]time.Time{}
	}
	last, seen := a.warned[detail]
	loud := !seen || now.Sub(last) >= time.Minute
	if loud {
		a.warned[detail] = now
	}
	a.mu.Unlock()
	if loud {
		a.log.Warn(msg, "server", a.set.ServerURL, "error", detail)
	}
}

// poke asks the run loop to report health now.
func (a *Agent) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// run applies remote configs one at a time and reports health changes.
func (a *Agent) run() {
	defer a.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-a.stop
		cancel()
	}()
	tick := time.NewTicker(healthPoll)
	defer tick.Stop()
	for {
		select {
		case <-a.stop:
			return
		case rc := <-a.pending:
			a.apply(ctx, rc)
		case <-a.wake:
		case <-tick.C:
		}
		a.reportHealth(ctx)
	}
}

func (a *Agent) reportHealth(ctx context.Context) {
	h := a.health(ctx)
	a.mu.Lock()
	same := a.lastHealth != nil && a.lastHealth.Healthy == h.Healthy && a.lastHealth.Status == h.Status &&
		a.lastHealth.LastError == h.LastError
	if !same {
		a.lastHealth = h
	}
	a.mu.Unlock()
	if same {
		return
	}
	if err := a.client.SetHealth(h); err != nil {
		a.log.Warn("report health", "error", err)
	}
}

func (a *Agent) health(ctx context.Context) *protobufs.ComponentHealth {
	st := a.sup.State()
	ok, detail := a.sup.Check(ctx)
	h := &protobufs.ComponentHealth{Healthy: ok, StartTimeUnixNano: uint64(a.started.UnixNano())}
	switch {
	case ok:
		h.Status = "running"
	case st.Config == "":
		h.Status = "waiting for config"
	case st.Running:
		h.Status = "starting"
		h.LastError = detail
	default:
		h.Status = "crashed"
		h.LastError = st.LastError
	}
	if st.Running {
		h.ComponentHealthMap = map[string]*protobufs.ComponentHealth{"collector": {
			Healthy: ok, Status: fmt.Sprintf("pid %d, restarts %d", st.PID, st.Restarts),
			StartTimeUnixNano: uint64(st.StartedAt.UnixNano()),
		}}
	}
	return h
}

// apply validates, runs and confirms one remote config; on failure the last
// good config runs again and the error is reported.
func (a *Agent) apply(ctx context.Context, rc *protobufs.AgentRemoteConfig) {
	body := configBody(rc.GetConfig())
	hash := hex.EncodeToString(rc.ConfigHash)
	if hash == "" {
		hash = hashOf(body)
	}
	a.mu.Lock()
	prev := a.status
	a.mu.Unlock()
	if prev.Hash == hash && prev.Status != "applying" {
		// Already decided (applied, or rejected): say so again, do not retry.
		a.setStatus(prev)
		return
	}
	log := a.log.With("config_hash", hash)
	log.Info("applying remote config")
	a.setStatus(remoteStatus{Hash: hash, Status: "applying"})
	fail := func(err error) {
		log.Warn("remote config rejected", "error", err)
		a.setStatus(remoteStatus{Hash: hash, Status: "failed", Error: err.Error()})
	}
	if len(body) == 0 {
		fail(errors.New("remote config has no collector.yaml"))
		return
	}
	ref := hashOf(body)
	path := a.configPath(ref)
	if err := writeFile(path, body); err != nil {
		fail(err)
		return
	}
	if err := a.sup.Validate(ctx, path); err != nil {
		if ctx.Err() != nil {
			return
		}
		fail(err)
		return
	}
	if err := a.sup.Run(ctx, path, body); err != nil {
		if ctx.Err() != nil {
			return // the agent is stopping; the config is applied again after a restart
		}
		a.mu.Lock()
		good, goodRef := a.current, a.currentRef
		a.mu.Unlock()
		if good != nil {
			if rerr := a.sup.Run(ctx, a.configPath(goodRef), good); rerr != nil {
				err = fmt.Errorf("%w; the last good config %s did not come back healthy either: %v", err, goodRef[:12], rerr)
			} else {
				err = fmt.Errorf("%w; rolled back to the last good config %s", err, goodRef[:12])
			}
		} else {
			a.sup.Stop()
		}
		fail(err)
		return
	}
	a.mu.Lock()
	a.current, a.currentRef = body, ref
	a.mu.Unlock()
	if err := writeFile(filepath.Join(a.set.DataDir, "current"), []byte(ref+"\n")); err != nil {
		log.Warn("persist current config", "error", err)
	}
	a.pruneConfigs(ref)
	a.setStatus(remoteStatus{Hash: hash, Status: "applied"})
	if err := a.client.UpdateEffectiveConfig(ctx); err != nil {
		log.Warn("report effective config", "error", err)
	}
	log.Info("remote config applied", "pid", a.sup.State().PID)
}

func (a *Agent) setStatus(st remoteStatus) {
	a.mu.Lock()
	a.status = st
	a.mu.Unlock()
	if b, err := json.Marshal(st); err == nil {
		if err := writeFile(filepath.Join(a.set.DataDir, "remote_status.json"), b); err != nil {
			a.log.Warn("persist remote config status", "error", err)
		}
	}
	if err := a.client.SetRemoteConfigStatus(a.protoStatus()); err != nil {
		a.log.Warn("report remote config status", "error", err)
	}
}

func (a *Agent) protoStatus() *protobufs.RemoteConfigStatus {
	a.mu.Lock()
	st := a.status
	a.mu.Unlock()
	hash, _ := hex.DecodeString(st.Hash)
	out := &protobufs.RemoteConfigStatus{LastRemoteConfigHash: hash, ErrorMessage: st.Error}
	switch st.Status {
	case "applied":
		out.Status = protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED
	case "applying":
		out.Status = protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLYING
	case "failed":
		out.Status = protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED
	default:
		out.Status = protobufs.RemoteConfigStatuses_RemoteConfigStatuses_UNSET
	}
	return out
}

func (a *Agent) description() *protobufs.AgentDescription {
	host, _ := os.Hostname()
	str := func(k, v string) *protobufs.KeyValue {
		return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
	}
	d := &protobufs.AgentDescription{IdentifyingAttributes: []*protobufs.KeyValue{
		str("service.name", "phoenix-agent"),
		str("service.instance.id", a.ID()),
		str("service.version", version.Get().Version),
		str("host.name", host),
	}}
	keys := make([]string, 0, len(a.set.Labels))
	for k := range a.set.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d.NonIdentifyingAttributes = append(d.NonIdentifyingAttributes, str(k, a.set.Labels[k]))
	}
	d.NonIdentifyingAttributes = append(d.NonIdentifyingAttributes, str("os.type", runtime.GOOS))
	return d
}

func (a *Agent) configPath(ref string) string {
	return filepath.Join(a.set.DataDir, "configs", ref+".yaml")
}

// pruneConfigs keeps the current config and the most recent others.
func (a *Agent) pruneConfigs(keep string) {
	dir := filepath.Join(a.set.DataDir, "configs")
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) <= keepConfigs {
		return
	}
	type file struct {
		name string
		mod  time.Time
	}
	var files []file
	for _, e := range entries {
		if info, err := e.Info(); err == nil && e.Name() != keep+".yaml" {
			files = append(files, file{e.Name(), info.ModTime()})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.After(files[j].mod) })
	for _, f := range files[min(len(files), keepConfigs-1):] {
		_ = os.Remove(filepath.Join(dir, f.name))
	}
}

func configBody(m *protobufs.AgentConfigMap) []byte {
	if m == nil {
		return nil
	}
	if f, ok := m.ConfigMap[ConfigFileName]; ok {
		return f.Body
	}
	if len(m.ConfigMap) == 1 {
		for _, f := range m.ConfigMap {
			return f.Body
		}
	}
	return nil
}

// writeFile writes atomically (temp file + rename) with mode 0600.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// logAdapter routes opamp-go's logs to slog; its errors (e.g. "Server
// responded with status=401 Unauthorized") go through warn's rate limit.
type logAdapter struct {
	l    *slog.Logger
	warn func(msg, detail string)
}

func (l *logAdapter) Debugf(_ context.Context, format string, v ...any) {
	l.l.Debug("opamp", "detail", fmt.Sprintf(format, v...))
}

func (l *logAdapter) Errorf(_ context.Context, format string, v ...any) {
	l.warn("opamp client error", fmt.Sprintf(format, v...))
}
