package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// metricValue scrapes the daemon and returns the value of the series named exactly as
// series is written in the exposition format, e.g. `mergeflect_errors_total{reason="X"}`.
func metricValue(ctx context.Context, series string) (float64, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return 0, false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, false, err
	}

	for line := range strings.SplitSeq(string(body), "\n") {
		value, ok := strings.CutPrefix(line, series+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		return v, true, err
	}
	return 0, false, nil
}

func metricAtLeast(ctx context.Context, series string, min float64) error {
	v, ok, err := metricValue(ctx, series)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("metric %s not exported", series)
	case v < min:
		return fmt.Errorf("metric %s = %v, want at least %v", series, v, min)
	}
	return nil
}
