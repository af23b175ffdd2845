# Loyalty+ service image (Node 24 LTS). Build: docker build -t loyalty-plus .
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY . .
# npm ci installs the locked dependencies (Node 24 itself among them) and its
# `prepare` script compiles the server into dist/ and builds the admin portal.
RUN npm ci --include=dev --no-audit --no-fund
EXPOSE 8080
USER node
# What `npm start` runs, without npm in between (signals reach the service).
CMD ["node", "--max-old-space-size=256", "--max-semi-space-size=8", "dist/main.js"]
