// What the stack knows of the images it runs, from their Dockerfiles: the user each runs its
// program as (the owner of its secret files) and, where a wrapper must run before it, its start.
import { FROM_IMAGE, type ImageUser } from "../service";

/**
 * apache/apisix (apache/apisix-docker, debian/Dockerfile): USER apisix, uid and gid 636; ENTRYPOINT
 * /docker-entrypoint.sh, CMD docker-start. The entrypoint runs any other command as given (`exec "$@"`).
 */
export const APISIX_IMAGE: { user: ImageUser; start: string[] } = { user: { uid: 636, gid: 636 }, start: ["/docker-entrypoint.sh", "docker-start"] };

/**
 * The API7 images (api7-gateway, api7-dashboard, api7-ee-3-*): their Dockerfiles are not public, so
 * each target reads their start and user from the image where it runs (render/imageFacts.ts).
 */
export const API7_IMAGE = { user: FROM_IMAGE, start: FROM_IMAGE } as const;

/** The official haproxy images (docker-library/haproxy): USER haproxy, uid and gid 99. */
export const HAPROXY_IMAGE_USER: ImageUser = { uid: 99, gid: 99 };

const ROOT: ImageUser = { uid: 0, gid: 0 };

/** The official nginx images: the master runs as root and reads the certificates before its workers start. */
export const NGINX_IMAGE_USER: ImageUser = ROOT;

/** The official etcd images (etcd-io/etcd Dockerfile-release.*): distroless static without a USER, so root. */
export const ETCD_IMAGE_USER: ImageUser = ROOT;

/**
 * MinIO's images (minio/minio Dockerfile.release): no USER, and its docker-entrypoint.sh switches
 * user only when MINIO_USERNAME and MINIO_GROUPNAME are set, which the stack does not set.
 */
export const MINIO_IMAGE_USER: ImageUser = ROOT;

/**
 * keepalived's image, built from keepalived's own Dockerfile (no USER): keepalived adds the VIPs and
 * speaks VRRP on raw sockets with the capabilities the container grants root.
 */
export const KEEPALIVED_IMAGE_USER: ImageUser = ROOT;
