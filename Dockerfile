# natter as one container: the same `make build` as on a developer machine,
# then the binary and the built app on a slim base, run as a non-root user.

FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make build

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin natter \
 && mkdir -p /data /app \
 && chown natter:natter /data
COPY --from=build /src/target/release/natter-server /usr/local/bin/natter-server
COPY --from=build /src/dist /app/dist
ENV NATTER_BIND=0.0.0.0:8080 \
    NATTER_DATA_DIR=/data \
    NATTER_STATIC_DIR=/app/dist \
    NATTER_LOG_FORMAT=json
USER natter
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/natter-server"]
