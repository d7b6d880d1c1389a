// Command controlplane runs a local etcd and kube-apiserver for the demo and
// for trying mergeflect by hand. It writes an admin kubeconfig to
// DIR/kubeconfig, logs the processes' output to DIR/controlplane.log, and
// stops everything on SIGINT or SIGTERM:
//
//	go run ./hack/controlplane -dir DIR
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/tazlab/mergeflect/internal/controlplane"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run starts the control plane and keeps it up until a signal arrives.
func run() error {
	dir := flag.String("dir", "",
		"directory for the state, the log and the admin kubeconfig (required)")
	flag.Parse()
	if *dir == "" {
		return errors.New("the -dir flag is required")
	}

	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return fmt.Errorf("create dir %s: %w", *dir, err)
	}
	logPath := filepath.Join(*dir, "controlplane.log")
	log, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("create log %s: %w", logPath, err)
	}
	defer log.Close()

	cp, err := controlplane.Start(ctx, controlplane.Options{Dir: *dir, Stdout: log, Stderr: log})
	if err != nil {
		return err
	}
	return serve(ctx, cp, filepath.Join(*dir, "kubeconfig"), logPath, stopSignals)
}

// serve publishes the kubeconfig, waits for a signal and stops the control
// plane. After the first signal a second one kills the command at once; the
// kernel then kills the children too.
func serve(
	ctx context.Context,
	cp *controlplane.ControlPlane,
	kubeconfig, logPath string,
	stopSignals context.CancelFunc,
) error {
	if err := cp.WriteKubeconfig(kubeconfig); err != nil {
		return errors.Join(err, cp.Stop())
	}
	fmt.Printf("control plane ready at %s: admin kubeconfig in %s, logs in %s\n",
		cp.Host(), kubeconfig, logPath)

	<-ctx.Done()
	stopSignals()
	if err := cp.Stop(); err != nil {
		return fmt.Errorf("stop control plane: %w", err)
	}
	return nil
}
