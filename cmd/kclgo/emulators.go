package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kclgo/kclgo/internal/h2c"
	"github.com/kclgo/kclgo/scripts"
)

// errEmulator is what a failure to install or start an emulator matches.
var errEmulator = errors.New("emulator")

// stack is the running local services of one kclgo local run.
type stack struct {
	kinesisDaemon string // the daemon's kinesisEndpoint (through the h2c proxy)
	kinesisHTTP1  string // the emulator itself, for the producer
	dynamoDB      string
	procs         []proc
	servers       []*http.Server
}

// proc is a started emulator; exited is closed when it has been waited for.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// startStack installs (when missing) and starts the emulators for KCL k on
// free loopback ports, logging into dir.
func startStack(ctx context.Context, cache, dir string, k daemonKind, say func(string, ...any)) (*stack, error) {
	s := &stack{}
	var kinesis string
	if k.kcl == "1" {
		node, err := nodeModules(ctx, cache, say)
		if err != nil {
			return s, err
		}
		conf, err := writeConf(cache)
		if err != nil {
			return s, err
		}
		env := append(os.Environ(), "KCLGO_NODE_MODULES="+node)
		for _, name := range []string{"kinesalite", "dynalite"} {
			addr, err := s.start(ctx, dir, name, env, "node", filepath.Join(conf, "emulators.js"), name)
			if err != nil {
				return s, err
			}
			if name == "kinesalite" {
				kinesis = "http://" + addr
			} else {
				s.dynamoDB = "http://" + addr
			}
		}
	} else {
		python, err := motoPython(ctx, cache, say)
		if err != nil {
			return s, err
		}
		addr, err := s.start(ctx, dir, "moto", os.Environ(), python, "-m", "moto.server", "-H", "127.0.0.1", "-p")
		if err != nil {
			return s, err
		}
		kinesis, s.dynamoDB = "http://"+addr, "http://"+addr
	}
	s.kinesisHTTP1 = kinesis
	// The 2.x/3.x daemon speaks HTTP/2 only; kinesalite needs ChildShards
	// added at a shard's end. The proxy does both, in this process.
	target, _ := url.Parse(kinesis)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return s, err
	}
	srv := h2c.NewServer(target, h2c.Options{ChildShards: k.kcl == "1"})
	s.servers = append(s.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	s.kinesisDaemon = "http://" + ln.Addr().String()
	say("emulators up: Kinesis %s (daemon through %s), DynamoDB %s", s.kinesisHTTP1, s.kinesisDaemon, s.dynamoDB)
	return s, nil
}

// start runs argv plus a free port as its last argument, in its own process
// group, until the port answers. It tries three ports: one found free may be
// taken before the emulator binds it.
func (s *stack) start(ctx context.Context, dir, name string, env []string, argv ...string) (string, error) {
	var lastErr error
	for try := 0; try < 3; try++ {
		port, err := freePort()
		if err != nil {
			return "", err
		}
		logPath := filepath.Join(dir, name+".log")
		logFile, err := os.Create(logPath)
		if err != nil {
			return "", err
		}
		cmd := exec.Command(argv[0], append(argv[1:], strconv.Itoa(port))...)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			logFile.Close()
			return "", fmt.Errorf("%w: start %s: %v", errEmulator, name, err)
		}
		logFile.Close()
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		s.procs = append(s.procs, proc{cmd, exited})
		addr := "127.0.0.1:" + strconv.Itoa(port)
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
				c.Close()
				return addr, nil
			}
			select {
			case <-exited:
				b, _ := os.ReadFile(logPath)
				lastErr = fmt.Errorf("%w: %s exited during start-up (log %s):\n%s", errEmulator, name, logPath, tail(string(b), 10))
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(100 * time.Millisecond):
				continue
			}
			break
		}
		if lastErr == nil {
			stopGroup(cmd, exited)
			return "", fmt.Errorf("%w: %s did not answer on %s within 60 s (log %s)", errEmulator, name, addr, logPath)
		}
	}
	return "", lastErr
}

// stop stops every emulator and proxy.
func (s *stack) stop() {
	for _, srv := range s.servers {
		_ = srv.Close()
	}
	for _, p := range s.procs {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	}
	timeout := time.After(5 * time.Second)
	for _, p := range s.procs {
		select {
		case <-p.exited:
		case <-timeout:
		}
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// stopGroup ends cmd's process group: SIGTERM, then SIGKILL after 5 s.
func stopGroup(cmd *exec.Cmd, exited <-chan struct{}) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// motoPython returns a Python that imports the pinned moto[server],
// installing it with pip when none does (into cache/venv when the system
// Python refuses), as scripts/localstack.sh does.
func motoPython(ctx context.Context, cache string, say func(string, ...any)) (string, error) {
	version := scripts.Version("moto")
	venv := filepath.Join(cache, "venv", "bin", "python")
	candidates := []string{os.Getenv("PYTHON"), venv, "python3"}
	for _, py := range candidates {
		if py != "" && motoOK(ctx, py, version) {
			return py, nil
		}
	}
	if _, err := exec.LookPath("python3"); err != nil {
		return "", fmt.Errorf("%w: python3 not found: moto (the KCL 3 emulator) needs it (apt-get install python3 python3-venv)", errEmulator)
	}
	say("installing moto[server]==%s with pip", version)
	if pipInstall(ctx, "python3", version) == nil && motoOK(ctx, "python3", version) {
		return "python3", nil
	}
	if _, err := os.Stat(venv); err != nil {
		if out, err := exec.CommandContext(ctx, "python3", "-m", "venv", filepath.Join(cache, "venv")).CombinedOutput(); err != nil {
			return "", fmt.Errorf("%w: python3 -m venv failed (apt-get install python3-venv): %v\n%s", errEmulator, err, tail(string(out), 5))
		}
	}
	if err := pipInstall(ctx, venv, version); err != nil {
		return "", err
	}
	if !motoOK(ctx, venv, version) {
		return "", fmt.Errorf("%w: moto %s installed but not importable by %s", errEmulator, version, venv)
	}
	return venv, nil
}

func motoOK(ctx context.Context, python, version string) bool {
	check := "import sys, importlib.metadata as md\nimport moto.server, flask, werkzeug\nsys.exit(0 if md.version('moto') == sys.argv[1] else 1)"
	return exec.CommandContext(ctx, python, "-c", check, version).Run() == nil
}

func pipInstall(ctx context.Context, python, version string) error {
	out, err := exec.CommandContext(ctx, python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "moto[server]=="+version).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: pip install moto[server]==%s: %v\n%s", errEmulator, version, err, tail(string(out), 5))
	}
	return nil
}

// nodeModules returns the node_modules folder holding the pinned kinesalite
// and dynalite, installing them with npm into cache/node when missing.
func nodeModules(ctx context.Context, cache string, say func(string, ...any)) (string, error) {
	dir := filepath.Join(cache, "node")
	modules := filepath.Join(dir, "node_modules")
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("%w: node not found: kinesalite and dynalite (the KCL 1 emulators) need it (apt-get install nodejs npm)", errEmulator)
	}
	want := map[string]string{"kinesalite": scripts.Version("kinesalite"), "dynalite": scripts.Version("dynalite")}
	ok := true
	for name, v := range want {
		b, err := os.ReadFile(filepath.Join(modules, name, "package.json"))
		ok = ok && err == nil && strings.Contains(string(b), `"version": "`+v+`"`)
	}
	if ok {
		return modules, nil
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return "", fmt.Errorf("%w: npm not found (apt-get install npm)", errEmulator)
	}
	say("installing kinesalite@%s dynalite@%s with npm into %s", want["kinesalite"], want["dynalite"], dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	pkg := filepath.Join(dir, "package.json")
	if _, err := os.Stat(pkg); err != nil {
		if err := os.WriteFile(pkg, []byte(`{"name":"kclgo-emulators","private":true}`+"\n"), 0o644); err != nil {
			return "", err
		}
	}
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", dir,
		"kinesalite@"+want["kinesalite"], "dynalite@"+want["dynalite"])
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w: npm install: %v\n%s", errEmulator, err, tail(string(out), 5))
	}
	return modules, nil
}
