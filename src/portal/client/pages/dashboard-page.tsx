import { useQuery } from "@connectrpc/connect-query";
import { BusinessSettings } from "../../../../gen/loyalty/v1/account_pb.js";
import { PageHeading, QueryState } from "../components/common.js";
import { PointsChart } from "../components/points-chart.js";
import { formatNumber } from "../format.js";
import { href } from "../router.js";

const DAYS = 30;

/** The owner's overview: customers, points over the last 30 days, rewards ready to claim. */
export function DashboardPage() {
  const dashboard = useQuery(BusinessSettings.method.getDashboard, { days: DAYS });
  const program = useQuery(BusinessSettings.method.getProgram, {});
  const d = dashboard.data;

  return (
    <>
      <PageHeading>Dashboard</PageHeading>
      <QueryState query={dashboard} what="the dashboard" />
      {d ? (
        <>
          <section aria-label="Key figures" className="stats">
            <Stat label="Customers" value={d.totalCustomers} testId="stat-total-customers">
              {formatNumber(d.activeCustomers)} active · {formatNumber(d.blockedCustomers)} blocked
            </Stat>
            <Stat label={`Points issued (${DAYS} days)`} value={d.pointsIssued} testId="stat-points-issued">
              {`Check-ins ${formatNumber(d.pointsEarned)} · promotions ${formatNumber(d.pointsPromotion)} · bonuses ${formatNumber(d.pointsBonus)} · imports ${formatNumber(d.pointsImported)}. Opening balances (${formatNumber(d.pointsOpening)}) are not counted.`}
            </Stat>
            <Stat label={`Points redeemed for rewards (${DAYS} days)`} value={d.pointsRedeemed} testId="stat-points-redeemed">
              {`Rewards only; your deductions (${formatNumber(d.pointsDeducted)}) are not counted.`}
            </Stat>
            {program.data?.program && (program.data.program.pointsExpireAfterMonths > 0 || d.pointsExpiring30Days > 0 || d.pointsExpired > 0) ? (
              <Stat label="Points expiring in the next 30 days" value={d.pointsExpiring30Days} testId="stat-points-expiring">
                {`Points that stop counting within 30 days unless spent. Expired over the last ${DAYS} days: ${formatNumber(d.pointsExpired)}.`}
              </Stat>
            ) : null}
            <Stat label="Rewards available now" value={d.rewardsAvailable} testId="stat-rewards-available">
              {program.data?.program
                ? `Customers with ${formatNumber(program.data.program.rewardThreshold)}+ points for “${program.data.program.rewardTitle}”`
                : null}
            </Stat>
          </section>
          <section className="panel" aria-labelledby="chart-title">
            <h2 id="chart-title">Points issued and redeemed, last {DAYS} days</h2>
            <PointsChart daily={d.daily} />
          </section>
          {d.totalCustomers === 0 ? (
            <section className="panel">
              <h2>Getting started</h2>
              <ol className="steps">
                <li>
                  Create an API key under <a href={href("api-keys")}>API keys</a>.
                </li>
                <li>Give it to your till or web shop: each check-in awards points to the customer’s phone number.</li>
                <li>
                  Check your <a href={href("program")}>program settings</a>: how points are earned and what the reward is.
                </li>
              </ol>
            </section>
          ) : null}
        </>
      ) : null}
    </>
  );
}

function Stat({ label, value, testId, children }: { label: string; value: number; testId: string; children?: React.ReactNode }) {
  return (
    <div className="stat" data-testid={testId}>
      <p className="stat-label">{label}</p>
      <p className="stat-value" data-testid={`${testId}-value`}>
        {formatNumber(value)}
      </p>
      {children ? <p className="stat-note">{children}</p> : null}
    </div>
  );
}
