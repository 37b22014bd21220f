import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { AppError, userIdSchema } from "../protocol/index.js";

export interface AuthenticatedUser {
  userId: string;
  /** Display name from the token's `name` claim, or the user id. */
  name: string;
  /** Epoch milliseconds of the token's `exp`. */
  expiresAt: number;
}

const ALGORITHM = "HS256";
const NAME_MAX_LENGTH = 200;

export class TokenService {
  private readonly key: Uint8Array;

  constructor(secret: string) {
    this.key = new TextEncoder().encode(secret);
  }

  /**
   * Verifies an HS256 JWT and returns its user. Tokens without `sub` or `exp`,
   * expired ones and any other algorithm (including `none`) are rejected with
   * an `unauthorized` AppError.
   */
  async verify(token: unknown): Promise<AuthenticatedUser> {
    if (typeof token !== "string" || token.length === 0) {
      throw new AppError(
        "unauthorized",
        "Missing token: connect with auth: { token }",
      );
    }
    if (token.length > 8192)
      throw new AppError("unauthorized", "Invalid token: too long");
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: [ALGORITHM],
        requiredClaims: ["sub", "exp"],
      });
      const userId = userIdSchema.safeParse(payload.sub);
      if (!userId.success)
        throw new AppError(
          "unauthorized",
          "Invalid token: sub is not a valid user id",
        );
      const name =
        typeof payload.name === "string" && payload.name.trim().length > 0
          ? payload.name.trim().slice(0, NAME_MAX_LENGTH)
          : userId.data;
      return {
        userId: userId.data,
        name,
        expiresAt: (payload.exp as number) * 1000,
      };
    } catch (error) {
      if (error instanceof AppError) throw error;
      if (error instanceof joseErrors.JWTExpired)
        throw new AppError("unauthorized", "Token expired");
      throw new AppError("unauthorized", "Invalid token");
    }
  }

  /** Signs a token for the dev endpoint; `ttlSeconds` sets `exp`. */
  async sign(
    userId: string,
    name: string | undefined,
    ttlSeconds: number,
  ): Promise<string> {
    const jwt = new SignJWT(name ? { name } : {})
      .setProtectedHeader({ alg: ALGORITHM })
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds);
    return jwt.sign(this.key);
  }
}
