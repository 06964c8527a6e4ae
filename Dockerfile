# Builds the frontdesk binary and runs it on a slim Debian base.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin frontdesk

FROM debian:bookworm-slim
# curl serves the container health check only.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/frontdesk --create-home frontdesk
COPY --from=build /src/target/release/frontdesk /usr/local/bin/frontdesk
USER frontdesk
WORKDIR /var/lib/frontdesk
# Inside the container the server must listen on every interface; compose publishes the
# port on the host's loopback only.
ENV FRONTDESK_SERVER__ADDR=0.0.0.0:8080 \
    FRONTDESK_DATA_DIR=/var/lib/frontdesk/data \
    FRONTDESK_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["frontdesk"]
CMD ["serve"]
