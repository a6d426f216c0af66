// Command fakecollector stands in for phoenix-collector in tests: a real
// process that validates and runs configs, serves the health_check
// extension's endpoint, and stops on SIGTERM. A config's `fake:` section
// steers it: `invalid: true` fails validation, `crash: true` exits at start,
// `unhealthy: true` answers 503 on the health endpoint, `child: true` starts
// a grandchild `sleep` in its process group (to check group kills),
// `env_file: PATH` writes PHOENIX_INGEST_TOKEN and PHOENIX_AGENT_ID as it
// sees them to PATH.validate and PATH.run.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"
)

type config struct {
	Fake struct {
		Invalid   bool   `yaml:"invalid"`
		Crash     bool   `yaml:"crash"`
		Unhealthy bool   `yaml:"unhealthy"`
		Child     bool   `yaml:"child"`
		EnvFile   string `yaml:"env_file"`
	} `yaml:"fake"`
	Extensions map[string]struct {
		Endpoint string `yaml:"endpoint"`
	} `yaml:"extensions"`
}

func load(path string) (*config, error) {
	b, err := os.ReadFile(strings.TrimPrefix(path, "file:"))
	if err != nil {
		return nil, err
	}
	var c config
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	if c.Fake.Invalid {
		return nil, fmt.Errorf("'fake' has invalid keys: invalid")
	}
	return &c, nil
}

func main() {
	args := os.Args[1:]
	validate := len(args) > 0 && args[0] == "validate"
	if validate {
		args = args[1:]
	}
	if len(args) != 2 || args[0] != "--config" {
		fmt.Fprintln(os.Stderr, "usage: fakecollector [validate] --config FILE")
		os.Exit(2)
	}
	c, err := load(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error: failed to get config:", err)
		os.Exit(1)
	}
	if c.Fake.EnvFile != "" {
		mode := "run"
		if validate {
			mode = "validate"
		}
		env := fmt.Sprintf("PHOENIX_INGEST_TOKEN=%s\nPHOENIX_AGENT_ID=%s\n", os.Getenv("PHOENIX_INGEST_TOKEN"), os.Getenv("PHOENIX_AGENT_ID"))
		if err := os.WriteFile(c.Fake.EnvFile+"."+mode, []byte(env), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "env_file:", err)
			os.Exit(1)
		}
	}
	if validate {
		return
	}
	if c.Fake.Crash {
		fmt.Fprintln(os.Stderr, "fatal: fake crash requested")
		os.Exit(3)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	if h, ok := c.Extensions["health_check"]; ok {
		ln, err := net.Listen("tcp", h.Endpoint)
		if err != nil {
			fmt.Fprintln(os.Stderr, "health_check:", err)
			os.Exit(1)
		}
		status := http.StatusOK
		if c.Fake.Unhealthy {
			status = http.StatusServiceUnavailable
		}
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	}
	if c.Fake.Child {
		child := exec.Command("sleep", "300")
		if err := child.Start(); err == nil {
			fmt.Printf("child %d\n", child.Process.Pid)
			os.WriteFile(strings.TrimPrefix(args[1], "file:")+".child", []byte(fmt.Sprint(child.Process.Pid)), 0o600)
		}
	}
	fmt.Fprintln(os.Stderr, "Everything is ready. Begin running and processing data.")
	<-stop
	fmt.Fprintln(os.Stderr, "Shutdown complete.")
}
