# syntax=docker/dockerfile:1
#
# mergeflect's image: a static binary on a distroless base, with no shell, run as a non-root
# user. Build it with
#   docker build --build-arg VERSION=$(git describe --tags --always) -t mergeflect .
# The builder runs on the build host's platform and cross-compiles for each target platform,
# so `docker buildx build --platform linux/amd64,linux/arm64` needs no emulation.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS TARGETARCH
ARG VERSION=dev
WORKDIR /src

# Dependencies first, so that a change to the code alone reuses this layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/mergeflect .

# distroless/static holds CA certificates, tzdata and /etc/passwd, nothing else.
FROM gcr.io/distroless/static:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="mergeflect" \
      org.opencontainers.image.description="Merges sibling Secrets into one and reflects it into namespaces" \
      org.opencontainers.image.source="https://github.com/tazlab/mergeflect" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/mergeflect /mergeflect
USER 65532:65532
# 8080 serves /metrics, 8081 /healthz and /readyz.
EXPOSE 8080 8081
ENTRYPOINT ["/mergeflect"]
