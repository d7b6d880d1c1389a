// Command mergeflect merges sibling Secrets into one and reflects the result into the
// namespaces its annotations choose. See README.md and docs/annotations.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tazlab/mergeflect/daemon"
	"github.com/tazlab/mergeflect/election"
	"github.com/tazlab/mergeflect/logging"
	"github.com/tazlab/mergeflect/reflector"
	"github.com/tazlab/mergeflect/vault"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// usage introduces the command's two forms before the flags.
const usage = `Usage:
  mergeflect [flags]        run the daemon
  mergeflect check [flags]  print what the daemon would write and every problem it would
                            report, without writing; exit 1 if there is a problem

Flags:
`

func main() {
	args := os.Args[1:]
	check := len(args) > 0 && args[0] == "check"
	if check {
		args = args[1:]
	}
	if err := run(check, args); err != nil {
		fmt.Fprintln(os.Stderr, "mergeflect:", err)
		os.Exit(1)
	}
}

// options are the command's flags: the daemon's configuration and how to reach the cluster.
type options struct {
	daemon              daemon.Config
	kubeconfig          string
	logLevel, logFormat string
	qps                 float64
	burst               int
}

func run(check bool, args []string) error {
	opts, err := parseFlags(args)
	if err != nil {
		return err
	}
	cfg := opts.daemon

	log, err := logging.New(os.Stderr, opts.logLevel, opts.logFormat)
	if err != nil {
		return err
	}
	logging.RouteKlog(log)

	restCfg, err := restConfig(opts.kubeconfig, float32(opts.qps), opts.burst)
	if err != nil {
		return err
	}
	clients, err := newClients(restCfg)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if check {
		return runCheck(ctx, cfg, clients)
	}
	log.Info().Str("version", version).Str("host", restCfg.Host).Msg("starting")
	err = daemon.Run(ctx, cfg, clients, prometheus.NewRegistry(), log)
	if err == nil {
		log.Info().Msg("stopped")
	}
	return err
}

// parseFlags reads the command line into options.
func parseFlags(args []string) (options, error) {
	var o options
	cfg := &o.daemon
	flag.StringVar(&o.kubeconfig, "kubeconfig", "",
		"path to a kubeconfig; default $KUBECONFIG, else ~/.kube/config, else in-cluster")
	flag.StringVar(&cfg.MetricsAddr, "metrics-bind-address", ":8080", "address serving /metrics; 0 disables it")
	flag.StringVar(&cfg.ProbeAddr, "health-probe-bind-address", ":8081",
		"address serving /healthz and /readyz; 0 disables it")
	flag.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	flag.StringVar(&o.logFormat, "log-format", "json", "json or console")
	flag.Float64Var(&o.qps, "kube-api-qps", 500, "requests per second to the API server, sustained")
	flag.IntVar(&o.burst, "kube-api-burst", 1000, "requests to the API server in a burst")
	flag.IntVar(&cfg.Controller.Workers, "workers", 4, "keys synced at once by each controller")
	flag.IntVar(&cfg.Controller.FanOut, "fanout", 32, "mirror writes in flight at once for one reflected Secret")
	flag.DurationVar(&cfg.Controller.Grace, "mismatch-grace", 30*time.Second,
		"how long a missing sibling or a key not matching its certificate is waited for before it is reported")
	flag.DurationVar(&cfg.Controller.ConflictRetry, "conflict-retry", time.Minute,
		"how often a name held by a Secret mergeflect does not manage is tried again")
	flag.BoolVar(&cfg.Informers.Reflector, "reflector-compat", true,
		"also reflect Secrets annotated for Reflector (watches the metadata of every Secret)")
	flag.Func("source-namespaces",
		"comma-separated patterns of the namespaces whose Secrets mergeflect acts on; default all",
		patternsFlag(&cfg.Controller.SourceNamespaces))
	flag.Func("reflect-namespaces",
		"comma-separated patterns of the namespaces mergeflect may write copies into; default all",
		patternsFlag(&cfg.Controller.ReflectNamespaces))
	electionFlags(&cfg.Election)
	vaultFlags(&cfg.Vault)
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), usage)
		flag.PrintDefaults()
	}

	if err := flag.CommandLine.Parse(args); err != nil {
		return o, fmt.Errorf("parse flags: %w", err)
	}
	cfg.Version = version
	if cfg.Controller.ConflictRetry < time.Second {
		return o, errors.New("--conflict-retry must be at least 1s")
	}
	if cfg.Election.Enabled && cfg.Election.Namespace == "" {
		return o, errors.New("--leader-elect needs --leader-election-namespace or $POD_NAMESPACE")
	}
	return o, nil
}

// electionFlags registers the flags of leader election.
func electionFlags(e *election.Options) {
	flag.BoolVar(&e.Enabled, "leader-elect", false,
		"run as one of several replicas: only the holder of a Lease writes")
	flag.StringVar(&e.Namespace, "leader-election-namespace", os.Getenv("POD_NAMESPACE"),
		"namespace of the leader Lease; default $POD_NAMESPACE")
	flag.StringVar(&e.Name, "leader-election-id", "mergeflect", "name of the leader Lease")
	flag.DurationVar(&e.LeaseDuration, "leader-election-lease-duration", 15*time.Second,
		"how long a Lease lasts without renewal before another replica may take it")
	flag.DurationVar(&e.RenewDeadline, "leader-election-renew-deadline", 10*time.Second,
		"how long the leader keeps trying to renew before it steps down")
	flag.DurationVar(&e.RetryPeriod, "leader-election-retry-period", 2*time.Second,
		"how often candidates try to take the Lease")
}

// restConfig loads the kubeconfig from the flag, else $KUBECONFIG, else the in-cluster one.
func restConfig(path string, qps float32, burst int) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = qps, burst
	cfg.UserAgent = "mergeflect/" + version
	return cfg, nil
}

func newClients(cfg *rest.Config) (daemon.Clients, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return daemon.Clients{}, fmt.Errorf("create kubernetes client: %w", err)
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return daemon.Clients{}, fmt.Errorf("create metadata client: %w", err)
	}
	return daemon.Clients{Kube: kube, Metadata: meta}, nil
}

// vaultFlags registers the flags of Vault-backed sources.
func vaultFlags(v *vault.Config) {
	flag.StringVar(&v.Address, "vault-address", os.Getenv("VAULT_ADDR"),
		"Vault's address; default $VAULT_ADDR; empty leaves Vault-backed sources unread")
	flag.StringVar(&v.CACert, "vault-ca-cert", os.Getenv("VAULT_CACERT"), "PEM CA bundle that signs Vault's certificate")
	flag.StringVar(&v.TLSServerName, "vault-tls-server-name", "", "name to verify in Vault's certificate")
	flag.StringVar(&v.Namespace, "vault-namespace", os.Getenv("VAULT_NAMESPACE"), "Vault namespace header")
	flag.DurationVar(&v.Timeout, "vault-timeout", 10*time.Second, "timeout of one request to Vault")
	flag.Float64Var(&v.RateLimit, "vault-rate-limit", 50, "requests per second to Vault; 0 for no limit")
	flag.StringVar(&v.AuthMount, "vault-auth-mount", "kubernetes", "path of Vault's Kubernetes auth method")
	flag.StringVar(&v.DefaultRole, "vault-default-role", "mergeflect",
		"Kubernetes auth role for sources without mergeflect.io/vault-role")
	flag.StringVar(&v.DefaultServiceAccount, "vault-default-service-account", "default",
		"ServiceAccount, in the source's namespace, for sources without mergeflect.io/vault-service-account")
	flag.StringVar(&v.Audience, "vault-token-audience", "",
		"audience of the ServiceAccount tokens; default the API server's")
	flag.Func("vault-token-namespaces",
		"comma-separated namespaces whose sources may read with the daemon's own $VAULT_TOKEN instead of logging in",
		func(value string) error {
			v.TokenNamespaces = splitList(value)
			return nil
		})
}

func splitList(value string) []string {
	var items []string
	for item := range strings.SplitSeq(value, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// runCheck runs mergeflect check and turns the problems it finds into the exit status.
func runCheck(ctx context.Context, cfg daemon.Config, clients daemon.Clients) error {
	problems, err := daemon.Check(ctx, cfg, clients, os.Stdout)
	if err != nil {
		return err
	}
	if problems > 0 {
		return fmt.Errorf("check found %d problem(s)", problems)
	}
	return nil
}

// patternsFlag parses a flag of namespace patterns, anchored like the annotations' ones.
func patternsFlag(into *[]*regexp.Regexp) func(string) error {
	return func(value string) error {
		patterns, err := reflector.ParsePatterns(value)
		*into = patterns
		return err
	}
}
