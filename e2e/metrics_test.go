package e2e

import (
	"context"
	"fmt"
)

func metricValue(ctx context.Context, series string) (float64, bool, error) {
	return daemon.Metric(ctx, series)
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
