package controlplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// BinDirEnv names the environment variable that holds the directory with the
// etcd, kube-apiserver and kubectl binaries.
const BinDirEnv = "MERGEFLECT_CONTROLPLANE_BIN"

// ErrBinariesNotFound is wrapped by the errors of BinDir and Start when the
// control-plane binaries cannot be found.
var ErrBinariesNotFound = errors.New("controlplane: binaries not found")

// buildHint tells the user how to get the binaries.
const buildHint = "build them with `make controlplane` and set " + BinDirEnv +
	" to their directory, or run `make test`"

// binaries lists the commands that BinDir requires.
var binaries = []string{"etcd", "kube-apiserver", "kubectl"}

// BinDir returns the absolute directory named by MERGEFLECT_CONTROLPLANE_BIN
// after checking that it holds executable etcd, kube-apiserver and kubectl
// files. Its error wraps ErrBinariesNotFound and says how to build them.
func BinDir() (string, error) {
	dir := os.Getenv(BinDirEnv)
	if dir == "" {
		return "", fmt.Errorf("%w: %s is not set; %s", ErrBinariesNotFound, BinDirEnv, buildHint)
	}

	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolve %s=%s: %w", BinDirEnv, dir, err)
	}

	for _, name := range binaries {
		if err := checkExecutable(filepath.Join(abs, name)); err != nil {
			return "", fmt.Errorf("%w: %w; %s", ErrBinariesNotFound, err, buildHint)
		}
	}
	return abs, nil
}

// checkExecutable reports whether path is a regular file someone may execute.
func checkExecutable(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("check binary: %w", err)
	}
	if !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("check binary %s: not an executable file", path)
	}
	return nil
}
