# Loyalty+ service image (Node 20). Build: docker build -t loyalty-plus .
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# Dev dependencies are needed to build the admin portal (Vite) at start.
RUN npm ci --include=dev --no-audit --no-fund
COPY . .
# Build the admin portal into the image (npm start then finds it up to date).
RUN npx tsx src/portal/build.ts
EXPOSE 8080
USER node
CMD ["npm", "start"]
